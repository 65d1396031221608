package appview

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/lexicon"
)

// recordStream captures a host's whole stream up to a fresh marker post.
func recordStream(t testing.TB, h *host) []consumer.Event {
	t.Helper()
	_, coll, rkey := splitAuthor(marker(t, h))
	var evs []consumer.Event
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := consumer.New(consumer.Config{URL: h.url, Cursor: 0, Logger: quiet(),
		Handler: consumer.HandlerFunc(func(_ context.Context, ev consumer.Event) error {
			evs = append(evs, ev)
			if c, ok := ev.Frame.Msg.(*firehose.Commit); ok {
				for _, op := range c.Ops {
					if op.Path == coll+"/"+rkey {
						cancel()
					}
				}
			}
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return evs
}

// BenchmarkIndex indexes a pre-recorded stream of synthetic activity into a
// fresh in-memory Pebble per iteration, 128 events per batch, with and
// without commit verification, through the pipeline Run uses (parallel
// prepare, ordered apply) and through the sequential durable handler
// (NewConsumer's); it reports events/s.
func BenchmarkIndex(b *testing.B) {
	h := newHost(b)
	drive(b, h, 50, 3000, 11)
	evs := recordStream(b, h)
	for _, path := range []string{"pipeline", "sequential"} {
		for _, verify := range []bool{false, true} {
			name := path + "/verify=off"
			if verify {
				name = path + "/verify=on"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quietPebble{b}})
					if err != nil {
						b.Fatal(err)
					}
					x := &indexer{ix: index.New(db), verify: verify, keys: h.resolver, log: quiet()}
					if path == "pipeline" {
						indexPipelined(b, x, db, evs)
					} else {
						indexSequential(b, x, db, evs)
					}
					_ = db.Close()
				}
				b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

func indexPipelined(b *testing.B, x *indexer, db *pebble.DB, evs []consumer.Event) {
	cp, err := consumer.NewCheckpoint(db, ConsumerName)
	if err != nil {
		b.Fatal(err)
	}
	var committed atomic.Int64
	p := newPipeline(x, db, cp, &committed, pipelineConfig{workers: runtime.GOMAXPROCS(0), depth: 512, maxBatch: 128,
		wo: pebble.NoSync, retryMin: time.Millisecond, retryMax: time.Millisecond})
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- p.run(ctx) }()
	for _, ev := range evs {
		if err := p.submit(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	p.close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if committed.Load() != evs[len(evs)-1].Seq {
		b.Fatalf("committed %d, want %d", committed.Load(), evs[len(evs)-1].Seq)
	}
}

func indexSequential(b *testing.B, x *indexer, db *pebble.DB, evs []consumer.Event) {
	ctx := context.Background()
	for i := 0; i < len(evs); i += 128 {
		batch := db.NewIndexedBatch()
		for _, ev := range evs[i:min(len(evs), i+128)] {
			if err := x.HandleEvent(ctx, ev, batch); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReads measures getProfile, getAuthorFeed and getPostThread over
// real HTTP with 200 concurrent clients on an index of synthetic activity,
// reporting p50 and p99 latency.
func BenchmarkReads(b *testing.B) {
	h := newHost(b)
	drive(b, h, 50, 3000, 13)
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietPebble{b}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := New(Config{RelayURL: h.url, DB: db, NoVerify: true, NoSync: true, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	m := marker(b, h)
	for {
		if _, ok, _ := index.GetRecord(db, m); ok {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	accts, err := h.pds.Accounts()
	if err != nil {
		b.Fatal(err)
	}
	var posts []string
	if err := index.AuthorFeed(db, accts[1].DID, "", func(it index.FeedItem) bool {
		if it.Collection == lexicon.NSIDFeedPost {
			posts = append(posts, it.URI)
		}
		return true
	}); err != nil || len(posts) == 0 {
		b.Fatalf("no posts to read (%v)", err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	for _, ep := range []struct {
		name string
		url  func(i int) string
	}{
		{"getProfile", func(i int) string {
			return "/xrpc/app.bsky.actor.getProfile?actor=" + url.QueryEscape(accts[i%len(accts)].DID)
		}},
		{"getAuthorFeed", func(i int) string {
			return "/xrpc/app.bsky.feed.getAuthorFeed?limit=50&actor=" + url.QueryEscape(accts[i%len(accts)].DID)
		}},
		{"getPostThread", func(i int) string {
			return "/xrpc/app.bsky.feed.getPostThread?uri=" + url.QueryEscape(posts[i%len(posts)])
		}},
	} {
		b.Run(ep.name, func(b *testing.B) {
			b.ReportAllocs()
			const clients = 200
			var mu sync.Mutex
			var lat []time.Duration
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var mine []time.Duration
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							break
						}
						start := time.Now()
						resp, err := client.Get(srv.URL + ep.url(int(i)))
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
						mine = append(mine, time.Since(start))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
