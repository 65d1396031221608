package feedgen

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
)

func itemCmp(a, b index.Item) int {
	return cmp.Or(cmp.Compare(a.IndexedAt, b.IndexedAt), cmp.Compare(a.URI, b.URI))
}

// TestPaginationProperty pages a feed while inserting items at random
// (many with equal timestamps, some at the page boundary's own timestamp).
// The pages concatenated must equal the initial snapshot plus exactly the
// inserted items that sort after the boundary current at their insertion,
// newest first, with no duplicate and no skip. Odd seeds keep a small
// in-memory head, so pages also cross from the head to the index.
func TestPaginationProperty(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 99))
			db := memDB(t)
			g := newTestGenerator(t, db)
			if seed%2 == 1 {
				// A small in-memory head: pages cross from it to Pebble.
				g.cfg.HeadItems = 1 + int(seed)
			}
			srv := httptest.NewServer(g.Handler())
			t.Cleanup(srv.Close)
			n := 0
			insert := func(ts int64) index.Item {
				// Random order among equal timestamps, but unique: a URI is
				// in a feed once.
				n++
				it := index.Item{URI: fmt.Sprintf("at://did:plc:%c/app.bsky.feed.post/%04d-%d", 'a'+rng.IntN(5), rng.IntN(10000), n), IndexedAt: ts}
				b := db.NewIndexedBatch()
				if err := index.Add(b, "all", "did:plc:x", it.URI, it.IndexedAt); err != nil {
					t.Fatal(err)
				}
				if err := b.Commit(nil); err != nil {
					t.Fatal(err)
				}
				return it
			}
			set := map[index.Item]bool{}
			for range 200 {
				set[insert(int64(rng.IntN(6)))] = true // few distinct timestamps: long ties
			}
			var (
				got      []index.Item
				boundary *index.Item
				cursor   string
			)
			limit := 1 + rng.IntN(15)
			for {
				body := getSkeleton(t, srv, g.FeedURI("all"), limit, cursor, http.StatusOK)
				for _, it := range body.Feed {
					got = append(got, index.Item{URI: it.Post})
				}
				if len(body.Feed) > limit {
					t.Fatalf("page of %d items, limit %d", len(body.Feed), limit)
				}
				if body.Cursor == "" {
					break
				}
				if body.Cursor == cursor {
					t.Fatal("input cursor echoed")
				}
				b, err := decodeCursor(body.Cursor)
				if err != nil {
					t.Fatal(err)
				}
				if b.URI != body.Feed[len(body.Feed)-1].Post {
					t.Fatal("cursor is not the last item")
				}
				boundary, cursor = &b, body.Cursor
				for range rng.IntN(4) {
					ts := boundary.IndexedAt + int64(rng.IntN(3)) - 1
					it := insert(ts)
					if itemCmp(it, *boundary) < 0 {
						set[it] = true // sorts after the boundary: must be served
					}
					// Otherwise it sorts before the boundary and must not be served.
				}
			}
			var want []index.Item
			for it := range set {
				want = append(want, it)
			}
			slices.SortFunc(want, func(a, b index.Item) int { return itemCmp(b, a) })
			wantURIs := make([]string, len(want))
			for i, it := range want {
				wantURIs[i] = it.URI
			}
			gotURIs := make([]string, len(got))
			for i, it := range got {
				gotURIs[i] = it.URI
			}
			if !slices.Equal(gotURIs, wantURIs) {
				t.Fatalf("limit %d: pages differ from snapshot: got %d items, want %d", limit, len(gotURIs), len(wantURIs))
			}
		})
	}
}
