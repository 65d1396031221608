package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// FeedServeConfig configures FeedServe. Zero values mean the defaults.
type FeedServeConfig struct {
	Common
	Posts    int           // posts in the feed, default 100,000
	Clients  int           // concurrent clients, default 500
	Duration time.Duration // per mode, default 5 s
	// Period is each paced client's time between requests (default
	// 250 ms: 500 clients make 2,000 requests/s).
	Period time.Duration
}

func (c FeedServeConfig) withDefaults() FeedServeConfig {
	setDefault(&c.Posts, 100_000)
	setDefault(&c.Clients, 500)
	setDefault(&c.Duration, 5*time.Second)
	setDefault(&c.Period, 250*time.Millisecond)
	return c
}

// FeedServeResult is what FeedServe measured.
type FeedServeResult struct {
	Bound       Bound    `json:"bound"`
	Posts       int      `json:"posts"`
	Clients     int      `json:"clients"`
	FillSeconds float64  `json:"fillSeconds"`
	ClosedLoop  serveRun `json:"closedLoop"`
	Paced       serveRun `json:"paced"`
	PacedPeriod string   `json:"pacedPeriod"`
}

type serveRun struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	PerSecond float64 `json:"requestsPerSecond"`
	Latency   Latency `json:"latency"`
	Cores     float64 `json:"cpuCores"`
}

// Table implements Result.
func (r *FeedServeResult) Table() Table {
	t := Table{Title: "feed-serve"}
	t.add("signature bound", "%s", r.Bound)
	t.add("feed", "%d posts (indexed in %.1f s)", r.Posts, r.FillSeconds)
	t.add("closed loop", "%d clients, no think time: %.0f req/s, %s, errors %d, %.2f cores",
		r.Clients, r.ClosedLoop.PerSecond, r.ClosedLoop.Latency, r.ClosedLoop.Errors, r.ClosedLoop.Cores)
	t.add("paced", "%d clients, one request every %s each: %.0f req/s, %s, errors %d, %.2f cores",
		r.Clients, r.PacedPeriod, r.Paced.PerSecond, r.Paced.Latency, r.Paced.Errors, r.Paced.Cores)
	t.note("the feed keeps every post; it is filled through the generator's own indexing path (FeedHandler on #commit events carrying real post records), then served by getFeedSkeleton over loopback HTTP")
	t.note("clients run in this process, on the same cores as the server; each asks for limit=50 at a mix of first pages and deep cursors")
	t.note("closed loop: each client sends its next request when the last one returns (latency includes queueing behind the other clients); paced: each client sends on a fixed schedule, latency counted from the scheduled time, so a slow server is not hidden by clients waiting")
	t.note("verification does not apply to serving: no ratio to the bound")
	return t
}

// FeedServe measures getFeedSkeleton under many concurrent clients.
func FeedServe(ctx context.Context, cfg FeedServeConfig) (*FeedServeResult, error) {
	cfg = cfg.withDefaults()
	p := cfg.Progress
	res := &FeedServeResult{Posts: cfg.Posts, Clients: cfg.Clients, PacedPeriod: cfg.Period.String()}
	cl, err := begin(ctx, cfg.Common, &res.Bound)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	p.Phase("indexing the feed")
	start := time.Now()
	// No relay and no consumer: the feed is filled through its handler.
	gen, fgURL, db, err := cl.newFeedgen([]plugin.Feed{keepAll{"all"}})
	if err != nil {
		return nil, err
	}
	h, err := gen.FeedHandler("all")
	if err != nil {
		return nil, err
	}
	if err := fillFeed(ctx, db, h, cfg.Posts, p); err != nil {
		return nil, err
	}
	res.FillSeconds = time.Since(start).Seconds()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients, MaxConnsPerHost: cfg.Clients}, Timeout: 30 * time.Second}
	base := fgURL + "/xrpc/app.bsky.feed.getFeedSkeleton?"
	uri := feedURI("all")
	cursors, err := pageCursors(ctx, client, base, uri, 20)
	if err != nil {
		return nil, err
	}
	for i, run := range []*serveRun{&res.ClosedLoop, &res.Paced} {
		p.Phase([]string{"closed-loop clients", "paced clients"}[i])
		period := time.Duration(0)
		if i == 1 {
			period = cfg.Period
		}
		serveClients(ctx, client, base, uri, cursors, cfg.Clients, cfg.Duration, period, p, run)
	}
	p.Done()
	return res, nil
}

// fillFeed indexes n posts through h in batches of 1,000, as the
// generator's consumer would: #commit events with the record block in the
// CAR slice, ten posts per millisecond of event time.
func fillFeed(ctx context.Context, db *pebble.DB, h consumer.DurableHandler, n int, p *Progress) error {
	clock := syntax.NewRandomClock()
	base := time.Now().Add(-time.Duration(n/10) * time.Millisecond)
	const perBatch = 1000
	for i := 0; i < n; i += perBatch {
		b := db.NewIndexedBatch()
		for j := i; j < min(n, i+perBatch); j++ {
			did := fmt.Sprintf("did:plc:bench%018d", j%1000)
			rec, err := dagcbor.Marshal(map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("post %d", j),
				"createdAt": base.UTC().Format("2006-01-02T15:04:05.000Z"), "langs": []any{"en"}})
			if err != nil {
				b.Close()
				return fmt.Errorf("bench: encode post: %w", err)
			}
			c := cid.Sum(cid.DagCBOR, rec)
			ev := consumer.Event{Seq: int64(j + 1), Frame: firehose.Frame{Op: firehose.OpMessage, Type: firehose.TypeCommit, Msg: &firehose.Commit{
				Seq: int64(j + 1), Repo: did, Rev: clock.Next().String(),
				Ops:    []firehose.RepoOp{{Action: "create", Path: "app.bsky.feed.post/" + clock.Next().String(), CID: c}},
				Blocks: car.Encode([]cid.CID{c}, []car.Block{{CID: c, Data: rec}}),
				Time:   firehose.FormatTime(base.Add(time.Duration(j/10) * time.Millisecond)),
			}}}
			if err := h.HandleEvent(ctx, ev, b); err != nil {
				b.Close()
				return fmt.Errorf("bench: index post: %w", err)
			}
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return fmt.Errorf("bench: commit feed batch: %w", err)
		}
		p.Set(int64(min(n, i+perBatch)), int64(n), "posts")
	}
	return nil
}

// pageCursors pages through the feed from the start and returns the
// cursors of the first pages ("" for the first), to ask for deep pages too.
func pageCursors(ctx context.Context, client *http.Client, base, uri string, pages int) ([]string, error) {
	cursors := []string{""}
	cur := ""
	for range pages {
		q := url.Values{"feed": {uri}, "limit": {"100"}}
		if cur != "" {
			q.Set("cursor", cur)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("bench: getFeedSkeleton: %w", err)
		}
		var page struct {
			Feed   []json.RawMessage `json:"feed"`
			Cursor string            `json:"cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(page.Feed) == 0 {
			return nil, fmt.Errorf("bench: getFeedSkeleton page: status %d, %d items, %v", resp.StatusCode, len(page.Feed), err)
		}
		if page.Cursor == "" {
			break
		}
		cur = page.Cursor
		cursors = append(cursors, cur)
	}
	return cursors, nil
}

// serveClients runs clients for d: closed loop if period is 0, else each
// on a schedule of one request per period (latency from the scheduled
// time).
func serveClients(ctx context.Context, client *http.Client, base, uri string, cursors []string, clients int, d, period time.Duration, p *Progress, run *serveRun) {
	lat := make([][]time.Duration, clients)
	errs := make([]int64, clients)
	meter := startCPU()
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			// Spread the paced clients' schedules over the period.
			next := start.Add(period * time.Duration(c) / time.Duration(clients))
			for i := 0; ctx.Err() == nil; i++ {
				sent := time.Now()
				if period > 0 {
					if next.After(end) {
						return
					}
					time.Sleep(time.Until(next))
					sent = next
					next = next.Add(period)
				} else if sent.After(end) {
					return
				}
				q := url.Values{"feed": {uri}, "limit": {"50"}}
				if cur := cursors[(c+i)%len(cursors)]; cur != "" {
					q.Set("cursor", cur)
				}
				resp, err := client.Get(base + q.Encode())
				if err != nil {
					errs[c]++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs[c]++
					continue
				}
				lat[c] = append(lat[c], time.Since(sent))
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(100 * time.Millisecond):
			p.Set(int64(time.Since(start)/time.Millisecond), int64(d/time.Millisecond), "")
		}
	}
	el := time.Since(start)
	run.Cores = meter.cores()
	var all []time.Duration
	for c := range clients {
		all = append(all, lat[c]...)
		run.Errors += errs[c]
	}
	run.Requests = int64(len(all))
	run.PerSecond = float64(run.Requests) / el.Seconds()
	run.Latency = summarize(all)
}
