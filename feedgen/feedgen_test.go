package feedgen

import (
	"errors"
	"maps"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// TestFeedsMatchReference drives real #commit and #account frames from a
// PDS through the durable consumer and checks every feed against a plain
// reference filter, deletes and the account purge included.
func TestFeedsMatchReference(t *testing.T) {
	t.Parallel()
	p, u := startPDS(t)
	posts, head := writeScenario(t, p, rand.New(rand.NewPCG(1, 2)), 60)
	db := memDB(t)
	g := newTestGenerator(t, db)
	consume(t, db, g, u, "feedgen", head, 0)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	for _, name := range feedNames {
		var want []string
		for _, tp := range posts {
			if !tp.deleted && reference(name, tp) {
				want = append(want, tp.uri)
			}
		}
		got := fetchAll(t, srv, g, name, 7)
		slices.Sort(want)
		sorted := slices.Sorted(slices.Values(got))
		if !slices.Equal(sorted, want) {
			t.Errorf("feed %s: got %d posts, want %d\n got %v\nwant %v", name, len(got), len(want), sorted, want)
		}
		if len(want) == 0 {
			t.Errorf("feed %s: scenario leaves it empty, the test would be weak", name)
		}
	}
}

// TestCrashResume stops the consumer mid-stream, restarts it from its
// stored cursor, and compares the index with one built in a single clean
// pass; then replays the whole stream again and expects no change.
func TestCrashResume(t *testing.T) {
	t.Parallel()
	p, u := startPDS(t)
	_, head := writeScenario(t, p, rand.New(rand.NewPCG(3, 4)), 40)

	clean := memDB(t)
	consume(t, clean, newTestGenerator(t, clean), u, "feedgen", head, 0)
	want := dump(t, clean)

	crashed := memDB(t)
	consumeCrash(t, crashed, newTestGenerator(t, crashed), u, "feedgen", head/2, 4)
	consume(t, crashed, newTestGenerator(t, crashed), u, "feedgen", head, 0)
	if got := dump(t, crashed); !maps.Equal(got, want) {
		t.Fatalf("resumed index differs: %d keys vs %d", len(got), len(want))
	}
	// At-least-once: a second consumer name replays everything from 0.
	consume(t, crashed, newTestGenerator(t, crashed), u, "again", head, 0)
	if got := dump(t, crashed); !maps.Equal(got, want) {
		t.Fatalf("replay changed the index: %d keys vs %d", len(got), len(want))
	}
}

// TestBackfillNewFeed adds a feed to a running generator: its own consumer
// replays the retained history from cursor 0 while the first feed's
// consumer runs, and the result equals the single-pass index, with the
// first feed's keys untouched.
func TestBackfillNewFeed(t *testing.T) {
	t.Parallel()
	p, u := startPDS(t)
	_, head := writeScenario(t, p, rand.New(rand.NewPCG(8, 9)), 30)
	clean := memDB(t)
	consume(t, clean, newTestGenerator(t, clean), u, "feedgen", head, 0)
	want := dump(t, clean)

	db := memDB(t)
	g := newTestGenerator(t, db)
	hAll, err := g.FeedHandler("all")
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, db, hAll, u, "feed/all", head, 0)
	before := dump(t, db)
	var wg sync.WaitGroup
	for _, name := range feedNames[1:] {
		h, err := g.FeedHandler(name)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := runConsumerErr(t.Context(), db, h, u, "feed/"+name, head, 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := dump(t, db)
	if !maps.Equal(got, want) {
		t.Fatalf("per-feed index differs from the single pass: %d keys vs %d", len(got), len(want))
	}
	for k, v := range before {
		if got[k] != v {
			t.Fatalf("backfill touched the first feed's key %q", k)
		}
	}
	if _, err := g.FeedHandler("nope"); !errors.Is(err, ErrUnknownFeed) {
		t.Fatalf("unknown feed handler: %v", err)
	}
}
