package feedgen

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
)

// BenchmarkGetFeedSkeleton500 serves a 100k-post feed to 500 concurrent
// clients over real HTTP, each paging with limit 50 (first pages and deep
// cursors), and reports the p50 and p99 request latency.
func BenchmarkGetFeedSkeleton500(b *testing.B) {
	const posts, clients = 100_000, 500
	db := memDB(b)
	g := newTestGenerator(b, db)
	batch := db.NewIndexedBatch()
	for i := range posts {
		// Ten posts per microsecond: long runs of equal timestamps.
		if err := index.Add(batch, "all", "did:plc:bench", fmt.Sprintf("at://did:plc:bench/app.bsky.feed.post/%08d", i), int64(i/10)); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Commit(nil); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	// Cursors at various depths, taken from real pages.
	cursors := []string{""}
	cur := ""
	for range 20 {
		page := getSkeleton(b, srv, g.FeedURI("all"), 100, cur, 200)
		cur = page.Cursor
		cursors = append(cursors, cur)
	}
	base := srv.URL + "/xrpc/app.bsky.feed.getFeedSkeleton?"
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	var wg sync.WaitGroup
	per := max(b.N/clients, 1)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				q := url.Values{"feed": {g.FeedURI("all")}, "limit": {"50"}}
				if cc := cursors[(c+i)%len(cursors)]; cc != "" {
					q.Set("cursor", cc)
				}
				start := time.Now()
				resp, err := client.Get(base + q.Encode())
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[c] = append(lat[c], time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}
