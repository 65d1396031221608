package feedgen

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
)

// TestAccountStatus: takendown, suspended and deactivated accounts leave
// the feeds and come back on reactivation (posts made meanwhile
// included); a deleted account is purged for good; desynchronized and
// throttled change nothing; replaying an event changes nothing.
func TestAccountStatus(t *testing.T) {
	t.Parallel()
	db := memDB(t)
	g := newTestGenerator(t, db)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	const a, b = "did:plc:aaa", "did:plc:bbb"
	var posts []string // in time order
	hidden := map[string]bool{}
	deleted := map[string]bool{}
	post := func(did string) {
		uri := fmt.Sprintf("at://%s/app.bsky.feed.post/%03d", did, len(posts))
		batch := db.NewIndexedBatch()
		if err := index.Add(batch, "all", did, uri, int64(len(posts))); err != nil {
			t.Fatal(err)
		}
		if err := batch.Commit(nil); err != nil {
			t.Fatal(err)
		}
		posts = append(posts, uri)
	}
	seq := int64(0)
	account := func(did string, active bool, status string) {
		t.Helper()
		for range 2 { // the second time is a replay
			seq++
			batch := db.NewIndexedBatch()
			ev := consumer.Event{Seq: seq, Frame: firehose.Frame{Type: "#account",
				Msg: &firehose.Account{Seq: seq, DID: did, Active: active, Status: status}}}
			if err := g.HandleEvent(t.Context(), ev, batch); err != nil {
				t.Fatal(err)
			}
			if err := batch.Commit(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(step string) {
		t.Helper()
		var want []string
		for _, u := range slices.Backward(posts) {
			if did := authorOf(u); !hidden[did] && !deleted[did] {
				want = append(want, u)
			}
		}
		if got := fetchAll(t, srv, g, "all", 2); !slices.Equal(got, want) {
			t.Fatalf("%s: feed %v, want %v", step, got, want)
		}
	}
	post(a)
	post(b)
	post(a)
	expect("start")
	for _, status := range []string{"takendown", "suspended", "deactivated"} {
		account(a, false, status)
		hidden[a] = true
		expect(status)
		post(a) // indexed while hidden: held back too
		post(b)
		expect(status + ", then posts")
		account(a, true, "")
		hidden[a] = false
		expect(status + ", then active")
	}
	for _, status := range []string{"desynchronized", "throttled"} {
		account(b, false, status)
		expect(status)
	}
	account(a, false, "takendown")
	account(a, false, "deleted")
	account(a, true, "")
	deleted[a] = true
	expect("deleted, then active")
	if h, err := index.Hidden(db, "all", a); err != nil || h {
		t.Fatalf("a purged account is still marked hidden: %v %v", h, err)
	}
}
