package feedgen

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

const (
	benchPosts   = 100_000
	benchClients = 500
	// benchInterval is the paced variant's period per client: 500 clients
	// every 100 ms is 5,000 requests/s in total.
	benchInterval = 100 * time.Millisecond
)

// skeletonBench is a 100k-post feed served over real HTTP, with request
// URLs for first pages and cursors at various depths taken from real
// pages (limit 50).
type skeletonBench struct {
	urls    []string
	client  *http.Client
	handler http.Handler
}

func newSkeletonBench(b *testing.B) *skeletonBench {
	db := memDB(b)
	return benchFeed(b, db, newTestGenerator(b, db), "all")
}

// benchFeed fills feed with benchPosts posts (and, for a ranked feed, likes
// on one post in three) and serves it.
func benchFeed(b *testing.B, db *pebble.DB, g *Generator, feed string) *skeletonBench {
	batch := db.NewIndexedBatch()
	for i := range benchPosts {
		// Ten posts per microsecond: long runs of equal timestamps.
		uri := fmt.Sprintf("at://did:plc:bench/app.bsky.feed.post/%08d", i)
		if err := index.Add(batch, feed, "did:plc:bench", uri, int64(i/10)); err != nil {
			b.Fatal(err)
		}
		if g.state[feed].ranked && i%3 == 0 {
			if err := index.AddLikes(batch, feed, uri, int64(i%17)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := batch.Commit(nil); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	b.Cleanup(tr.CloseIdleConnections)
	sb := &skeletonBench{client: &http.Client{Transport: tr}, handler: g.Handler()}
	base := srv.URL + "/xrpc/app.bsky.feed.getFeedSkeleton?"
	cur := ""
	for range 21 {
		q := url.Values{"feed": {g.FeedURI(feed)}, "limit": {"50"}}
		if cur != "" {
			q.Set("cursor", cur)
		}
		sb.urls = append(sb.urls, base+q.Encode())
		cur = getSkeleton(b, srv, g.FeedURI(feed), 100, cur, 200).Cursor
	}
	return sb
}

func (sb *skeletonBench) get(b *testing.B, u string) bool {
	resp, err := sb.client.Get(u)
	if err != nil {
		b.Error(err)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("status %d", resp.StatusCode)
		return false
	}
	return true
}

func reportLatency(b *testing.B, lat [][]time.Duration) {
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkGetFeedSkeleton500 serves a 100k-post feed to 500 concurrent
// closed-loop clients over real HTTP (each sends its next request as soon
// as the last one is answered), each paging with limit 50 (first pages and
// deep cursors), and reports the p50 and p99 request latency. The clients
// run in the same process on the same cores, so this measures saturation:
// latency is 500 / throughput. The connections are opened before the
// timer starts.
func BenchmarkGetFeedSkeleton500(b *testing.B) {
	sb := newSkeletonBench(b)
	sb.warm(b)
	lat := make([][]time.Duration, benchClients)
	per := max(b.N/benchClients, 1)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := range benchClients {
		wg.Go(func() {
			for i := range per {
				start := time.Now()
				if !sb.get(b, sb.urls[(c+i)%len(sb.urls)]) {
					return
				}
				lat[c] = append(lat[c], time.Since(start))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	reportLatency(b, lat)
}

// warm opens the clients' 500 connections (one request each) before the
// timer starts, so that the numbers are of serving, not of TCP set-up.
func (sb *skeletonBench) warm(b *testing.B) {
	var wg sync.WaitGroup
	for c := range benchClients {
		wg.Go(func() { sb.get(b, sb.urls[c%len(sb.urls)]) })
	}
	wg.Wait()
}

// BenchmarkGetFeedSkeleton500Paced is the same feed and requests with 500
// concurrent clients that each send one request every benchInterval
// (5,000 requests/s in total, with random phases), an open load below
// saturation. Latency runs from each request's scheduled time, so a late
// send counts against the server (no coordinated omission).
func BenchmarkGetFeedSkeleton500Paced(b *testing.B) {
	sb := newSkeletonBench(b)
	sb.warm(b)
	lat := make([][]time.Duration, benchClients)
	per := max(b.N/benchClients, 1)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	for c := range benchClients {
		phase := time.Duration(rand.Int64N(int64(benchInterval)))
		wg.Go(func() {
			for i := range per {
				due := t0.Add(phase + time.Duration(i)*benchInterval)
				time.Sleep(time.Until(due))
				if !sb.get(b, sb.urls[(c+i)%len(sb.urls)]) {
					return
				}
				lat[c] = append(lat[c], time.Since(due))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(benchClients)/benchInterval.Seconds(), "req/s")
	reportLatency(b, lat)
}

// discardWriter is a reusable http.ResponseWriter that drops the body.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// BenchmarkSkeletonHandler is the server's own work for one
// getFeedSkeleton of the same feed and requests, without HTTP transport:
// routing, parsing, the page from the in-memory head, the response bytes.
func BenchmarkSkeletonHandler(b *testing.B) {
	benchHandler(b, newSkeletonBench(b))
}

// BenchmarkSkeletonHandlerRanked is BenchmarkSkeletonHandler for a ranked
// feed of 100k posts (pages of one ranking; the ranking itself, about one
// pass over the feed, is built before the timer starts).
func BenchmarkSkeletonHandlerRanked(b *testing.B) {
	var reg plugin.Registry
	if err := reg.Register(hotFeed{}); err != nil {
		b.Fatal(err)
	}
	db := memDB(b)
	g, err := New(Config{DB: db, Feeds: &reg, PublisherDID: testPublisher, ServiceDID: testService})
	if err != nil {
		b.Fatal(err)
	}
	benchHandler(b, benchFeed(b, db, g, "hot"))
}

func benchHandler(b *testing.B, sb *skeletonBench) {
	reqs := make([]*http.Request, len(sb.urls))
	for i, u := range sb.urls {
		reqs[i] = httptest.NewRequest(http.MethodGet, u, nil)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		clear(w.h)
		sb.handler.ServeHTTP(w, reqs[i%len(reqs)])
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}
