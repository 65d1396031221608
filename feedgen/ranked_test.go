package feedgen

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/feedgen/feedfile"
	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

// hotFeed is a RankScore feed with the default score: Match score plus
// likes plus reposts, decayed by plugin.Gravity.
type hotFeed struct{}

func (hotFeed) Name() string                       { return "hot" }
func (hotFeed) Match(*plugin.Post) plugin.Decision { return plugin.Keep }
func (hotFeed) Ranking() plugin.Ranking            { return plugin.RankScore }

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rankedItem is what the test wrote, for the reference ranking.
type rankedItem struct {
	uri            string
	ts             int64
	base           float64
	likes, reposts int64
}

// refScore is the formula, computed independently of the plugin
// package: points / (hours + 2)^1.8.
func refScore(it rankedItem, now time.Time) float64 {
	hours := max(float64(now.UnixMicro()-it.ts)/3.6e9, 0)
	return (it.base + float64(it.likes) + float64(it.reposts)) / math.Pow(hours+2, 1.8)
}

// refRanking orders items best first: score, then newer, then URI, all
// descending.
func refRanking(items []rankedItem, now time.Time, score func(rankedItem, time.Time) float64) []string {
	s := slices.Clone(items)
	slices.SortFunc(s, func(a, b rankedItem) int {
		return cmp.Or(cmp.Compare(score(b, now), score(a, now)), cmp.Compare(b.ts, a.ts), cmp.Compare(b.uri, a.uri))
	})
	out := make([]string, len(s))
	for i, it := range s {
		out[i] = it.uri
	}
	return out
}

func newRankedGenerator(t *testing.T, db *pebble.DB, clock *testClock, feeds ...plugin.Feed) *Generator {
	t.Helper()
	var reg plugin.Registry
	for _, f := range feeds {
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	g, err := New(Config{DB: db, Feeds: &reg, PublisherDID: testPublisher, ServiceDID: testService,
		Now: clock.Now, RankKeep: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// writeRanked puts n items into feed with random Match scores, likes and
// reposts; timestamps fall on a coarse grid and most posts have no
// interactions, so many scores tie.
func writeRanked(t *testing.T, db *pebble.DB, rng *rand.Rand, feed string, n int, now time.Time) []rankedItem {
	t.Helper()
	b := db.NewIndexedBatch()
	var items []rankedItem
	for i := range n {
		it := rankedItem{
			uri:  fmt.Sprintf("at://did:plc:%c/app.bsky.feed.post/%04d", 'a'+rng.IntN(4), i),
			ts:   index.Micros(now.Add(-time.Duration(rng.IntN(48)) * time.Hour)),
			base: float64(rng.IntN(2)),
		}
		if rng.IntN(2) == 0 {
			it.likes, it.reposts = rng.Int64N(20), rng.Int64N(4)
		}
		if err := index.AddScored(b, feed, "did:plc:x", it.uri, it.ts, it.base); err != nil {
			t.Fatal(err)
		}
		if err := index.AddLikes(b, feed, it.uri, it.likes); err != nil {
			t.Fatal(err)
		}
		if err := index.AddReposts(b, feed, it.uri, it.reposts); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	return items
}

// TestRankedOrder: a RankScore feed is served by score, ties broken by
// time and URI, exactly as the reference ranking.
func TestRankedOrder(t *testing.T) {
	t.Parallel()
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	db := memDB(t)
	g := newRankedGenerator(t, db, clock, hotFeed{})
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	items := writeRanked(t, db, rand.New(rand.NewPCG(1, 2)), "hot", 300, clock.Now())
	want := refRanking(items, clock.Now(), refScore)
	if got := fetchAll(t, srv, g, "hot", 100); !slices.Equal(got, want) {
		t.Fatalf("ranked feed differs from the reference:\n got %v\nwant %v", got[:10], want[:10])
	}
	// Two hours later, with more likes on the worst post, a new ranking
	// is computed once the old one is due.
	last := items[slices.IndexFunc(items, func(it rankedItem) bool { return it.uri == want[len(want)-1] })]
	b := db.NewIndexedBatch()
	if err := index.AddLikes(b, "hot", last.uri, 100_000); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	for i := range items {
		if items[i].uri == last.uri {
			items[i].likes += 100_000
		}
	}
	clock.Add(2 * time.Hour)
	want = refRanking(items, clock.Now(), refScore)
	if want[0] != last.uri {
		t.Fatal("the test's liked post should now lead")
	}
	if got := fetchAll(t, srv, g, "hot", 100); !slices.Equal(got, want) {
		t.Fatalf("re-ranked feed differs from the reference")
	}
}

// TestRankedPaginationSnapshot pages a ranked feed while scores move,
// posts arrive and posts leave, with new rankings computed between pages:
// the pages concatenated equal the ranking of the first page, with no
// duplicate and no skip. A restarted generator (rankings lost) continues a
// cursor from its position in the new ranking.
func TestRankedPaginationSnapshot(t *testing.T) {
	t.Parallel()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 7))
			clock := &testClock{t: time.Unix(1_800_000_000, 0)}
			db := memDB(t)
			g := newRankedGenerator(t, db, clock, hotFeed{})
			srv := httptest.NewServer(g.Handler())
			t.Cleanup(srv.Close)
			items := writeRanked(t, db, rng, "hot", 200, clock.Now())
			want := refRanking(items, clock.Now(), refScore)
			limit := 1 + rng.IntN(20)
			var got []string
			cursor := ""
			for page := 0; ; page++ {
				body := getSkeleton(t, srv, g.FeedURI("hot"), limit, cursor, http.StatusOK)
				for _, it := range body.Feed {
					got = append(got, it.Post)
				}
				if body.Cursor == "" {
					break
				}
				if body.Cursor == cursor || len(body.Feed) != limit {
					t.Fatalf("page %d: %d items, cursor echoed %v", page, len(body.Feed), body.Cursor == cursor)
				}
				cursor = body.Cursor
				// Move scores, add and delete posts, and make a new ranking due.
				b := db.NewIndexedBatch()
				for range 5 {
					if err := index.AddLikes(b, "hot", items[rng.IntN(len(items))].uri, rng.Int64N(50)); err != nil {
						t.Fatal(err)
					}
				}
				if err := index.AddScored(b, "hot", "did:plc:x", fmt.Sprintf("at://did:plc:new/app.bsky.feed.post/%d", page), index.Micros(clock.Now()), 100); err != nil {
					t.Fatal(err)
				}
				if err := index.Delete(b, "hot", "did:plc:x", items[rng.IntN(len(items))].uri); err != nil {
					t.Fatal(err)
				}
				if err := b.Commit(nil); err != nil {
					t.Fatal(err)
				}
				clock.Add(g.cfg.RankInterval)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("limit %d: pages (%d items) differ from the first ranking (%d items)", limit, len(got), len(want))
			}
		})
	}
}

// TestRankedCursorAfterRestart: a cursor whose ranking is gone (a restart)
// continues after its item in the new ranking; with nothing changed but
// the time, that is exactly where it left off. A cursor whose item is gone
// continues after its (score, time, URI) position.
func TestRankedCursorAfterRestart(t *testing.T) {
	t.Parallel()
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	db := memDB(t)
	g := newRankedGenerator(t, db, clock, hotFeed{})
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	items := writeRanked(t, db, rand.New(rand.NewPCG(5, 6)), "hot", 120, clock.Now())
	want := refRanking(items, clock.Now(), refScore)
	first := getSkeleton(t, srv, g.FeedURI("hot"), 37, "", http.StatusOK)
	// Restarted a moment later: another generation, every score a little
	// lower, the same order.
	clock.Add(time.Millisecond)
	g2 := newRankedGenerator(t, db, clock, hotFeed{})
	srv2 := httptest.NewServer(g2.Handler())
	t.Cleanup(srv2.Close)
	got := make([]string, 0, len(want))
	for _, it := range first.Feed {
		got = append(got, it.Post)
	}
	cursor := first.Cursor
	for cursor != "" {
		body := getSkeleton(t, srv2, g2.FeedURI("hot"), 37, cursor, http.StatusOK)
		for _, it := range body.Feed {
			got = append(got, it.Post)
		}
		cursor = body.Cursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages across a restart differ from the ranking")
	}
	getSkeleton(t, srv2, g2.FeedURI("hot"), 10, encodeCursor(index.Item{URI: "at://x", IndexedAt: 1}), http.StatusBadRequest)
}

// flatFeed ranks by likes alone, without decay, so scores stand still
// between rankings.
type flatFeed struct{ hotFeed }

func (flatFeed) Name() string { return "flat" }
func (flatFeed) Score(base float64, c plugin.Counts, _ time.Duration) (float64, bool) {
	return float64(c.Likes), true
}

// TestRankedCursorItemGone: a cursor whose ranking is gone and whose item
// left the feed continues after its (score, time, URI) position in the new
// ranking, which is exact while scores stand still.
func TestRankedCursorItemGone(t *testing.T) {
	t.Parallel()
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	db := memDB(t)
	g := newRankedGenerator(t, db, clock, flatFeed{})
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	items := writeRanked(t, db, rand.New(rand.NewPCG(5, 7)), "flat", 120, clock.Now())
	want := refRanking(items, clock.Now(), func(it rankedItem, _ time.Time) float64 { return float64(it.likes) })
	first := getSkeleton(t, srv, g.FeedURI("flat"), 30, "", http.StatusOK)
	b := db.NewIndexedBatch()
	if err := index.Delete(b, "flat", "did:plc:x", want[29]); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	g2 := newRankedGenerator(t, db, clock, flatFeed{})
	srv2 := httptest.NewServer(g2.Handler())
	t.Cleanup(srv2.Close)
	page := getSkeleton(t, srv2, g2.FeedURI("flat"), 5, first.Cursor, http.StatusOK)
	var got []string
	for _, it := range page.Feed {
		got = append(got, it.Post)
	}
	if !slices.Equal(got, want[30:35]) {
		t.Fatalf("after a deleted boundary item: %v, want %v", got, want[30:35])
	}
}

// TestPopularityAndMinLikesServed: feed-file feeds with popularity (and a
// threshold) and with minLikes serve exactly what plain reference filters
// over the same synthetic likes and reposts compute, through the in-memory
// head and past it (a small HeadItems forces the Pebble path).
func TestPopularityAndMinLikesServed(t *testing.T) {
	t.Parallel()
	fs, err := feedfile.Parse([]byte(`{"feeds": [
		{"name": "pop", "popularity": {"gravity": 1.5, "offsetHours": 1, "reposts": 2, "minScore": 0.02}, "rule": {"reply": false}},
		{"name": "liked", "minLikes": 5, "rule": {"reply": false}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	db := memDB(t)
	var reg plugin.Registry
	for _, f := range fs {
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	g, err := New(Config{DB: db, Feeds: &reg, PublisherDID: testPublisher, ServiceDID: testService, Now: clock.Now, HeadItems: 16})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	rng := rand.New(rand.NewPCG(8, 9))
	pop := writeRanked(t, db, rng, "pop", 250, clock.Now())
	liked := writeRanked(t, db, rng, "liked", 250, clock.Now())

	popScore := func(it rankedItem, now time.Time) float64 {
		hours := max(float64(now.UnixMicro()-it.ts)/3.6e9, 0)
		return (float64(it.likes) + 2*float64(it.reposts)) / math.Pow(hours+1, 1.5)
	}
	var kept []rankedItem
	for _, it := range pop {
		if popScore(it, clock.Now()) >= 0.02 {
			kept = append(kept, it)
		}
	}
	if len(kept) == 0 || len(kept) == len(pop) {
		t.Fatalf("popularity threshold keeps %d of %d: weak case", len(kept), len(pop))
	}
	if got, want := fetchAll(t, srv, g, "pop", 30), refRanking(kept, clock.Now(), popScore); !slices.Equal(got, want) {
		t.Fatalf("popularity feed: %d items, reference %d", len(got), len(want))
	}
	kept = kept[:0]
	for _, it := range liked {
		if it.likes >= 5 {
			kept = append(kept, it)
		}
	}
	newest := func(it rankedItem, _ time.Time) float64 { return 0 } // ties everywhere: time, then URI
	want := refRanking(kept, clock.Now(), newest)
	for _, limit := range []int{1, 7, 50} {
		if got := fetchAll(t, srv, g, "liked", limit); !slices.Equal(got, want) {
			t.Fatalf("minLikes feed, limit %d: %d items, reference %d", limit, len(got), len(want))
		}
	}
}
