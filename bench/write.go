package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// post is a minimal valid app.bsky.feed.post record.
func post(text string) map[string]any {
	return map[string]any{
		"$type":     "app.bsky.feed.post",
		"text":      text,
		"createdAt": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"langs":     []any{"en"},
	}
}

// writePosts commits perAccount posts to every account of dids on h,
// workers accounts at a time; done counts commits.
func writePosts(ctx context.Context, h *host, dids []string, perAccount, workers int, done *atomic.Int64) error {
	next := make(chan string)
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for range workers {
		wg.Go(func() {
			for did := range next {
				for i := range perAccount {
					w := pds.Write{Action: "create", Collection: "app.bsky.feed.post", Value: post(fmt.Sprintf("post %d of %s", i, did))}
					if _, err := h.pds.ApplyWrites(ctx, did, []pds.Write{w}, cid.Undef); err != nil {
						err = fmt.Errorf("bench: write to %s: %w", h.name, err)
						first.CompareAndSwap(nil, &err)
						return
					}
					done.Add(1)
				}
			}
		})
	}
	for _, d := range dids {
		if first.Load() != nil || ctx.Err() != nil {
			break
		}
		next <- d
	}
	close(next)
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	return ctx.Err()
}

// headOf commits a marker post on h and returns its seq: every event of
// the host up to now has a seq at or below it (a host's seqs are
// consecutive from 1).
func headOf(ctx context.Context, h *host, did string) (int64, error) {
	res, err := h.pds.ApplyWrites(ctx, did, []pds.Write{{Action: "create", Collection: "app.bsky.feed.post", Value: post("marker")}}, cid.Undef)
	if err != nil {
		return 0, fmt.Errorf("bench: marker on %s: %w", h.name, err)
	}
	return res.Seq, nil
}

// atomicCounter wraps a counter for writePosts callers that do not read it.
type atomicCounter struct{ n atomic.Int64 }
