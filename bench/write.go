package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/synth"
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

// synthHost lets the synthetic-activity driver write to an in-process
// host (as cmd/conflux does; that adapter is in package main).
type synthHost struct {
	pds *pds.PDS
	// onCommit, if set, sees every commit's rev and seq.
	onCommit func(did string, res pds.CommitResult)
}

var _ synth.Host = synthHost{}

func (h synthHost) CreateAccount(ctx context.Context, handle, password string) (string, error) {
	a, err := h.pds.CreateAccount(ctx, pds.CreateAccountInput{Handle: handle, Password: password})
	if err != nil {
		return "", err
	}
	return a.DID, nil
}

func (h synthHost) ApplyWrites(ctx context.Context, did string, writes []synth.Write) ([]synth.Result, error) {
	ws := make([]pds.Write, len(writes))
	for i, w := range writes {
		ws[i] = pds.Write{Action: w.Action, Collection: w.Collection, RKey: w.RKey, Value: w.Value, Validate: pds.ValidateOn}
	}
	res, err := h.pds.ApplyWrites(ctx, did, ws, cid.Undef)
	if errors.Is(err, pds.ErrRecordNotFound) {
		return nil, fmt.Errorf("%w: %w", synth.ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	if h.onCommit != nil {
		h.onCommit(did, res)
	}
	out := make([]synth.Result, len(res.Results))
	for i, r := range res.Results {
		out[i] = synth.Result{URI: r.URI, CID: r.CID}
	}
	return out, nil
}

func (h synthHost) UploadBlob(ctx context.Context, did, mime string, data []byte) (synth.Blob, error) {
	b, err := h.pds.UploadBlob(ctx, did, mime, data)
	if err != nil {
		return synth.Blob{}, err
	}
	return synth.Blob{CID: b.CID, MimeType: b.MimeType, Size: b.Size}, nil
}

// atomicCounter wraps a counter for writePosts callers that do not read it.
type atomicCounter struct{ n atomic.Int64 }
