package appview

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// TestDesyncResync skips a range of commits (as if the relay lost them):
// the next commit of each affected repo breaks its since/prevData chain,
// the AppView refetches the repo with getRepo, diffs and applies, and ends
// byte-identical to an index that saw every commit.
func TestDesyncResync(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	ctx := t.Context()
	var dids []string
	for _, name := range []string{"alice.test", "bob.test"} {
		a, err := h.pds.CreateAccount(ctx, pds.CreateAccountInput{Handle: name})
		if err != nil {
			t.Fatal(err)
		}
		dids = append(dids, a.DID)
	}
	alice, bob := dids[0], dids[1]
	first, firstCID := write(t, h, alice, lexicon.NSIDFeedPost, map[string]any{"text": "first", "createdAt": created}, pds.ValidateAuto)

	lagging := openDB(t)
	s, stop := startAppView(t, h, lagging, true)
	waitIndexed(t, lagging, first)
	stop()
	_ = s

	// Commits the lagging index will never see.
	var posts []string
	for i := range 4 {
		u, _ := write(t, h, alice, lexicon.NSIDFeedPost, map[string]any{"text": fmt.Sprint("lost ", i), "createdAt": created}, pds.ValidateAuto)
		posts = append(posts, u)
	}
	write(t, h, bob, lexicon.NSIDFeedLike, map[string]any{"subject": strongRef(first, firstCID), "createdAt": created}, pds.ValidateAuto)
	_, coll, rkey := splitAuthor(posts[0])
	if _, err := h.pds.ApplyWrites(ctx, alice, []pds.Write{{Action: repo.Delete, Collection: coll, RKey: rkey}}, cid.Undef); err != nil {
		t.Fatal(err)
	}
	// One more commit each, which the lagging index does see.
	write(t, h, alice, lexicon.NSIDFeedPost, map[string]any{"text": "seen", "createdAt": created}, pds.ValidateAuto)
	last, _ := write(t, h, bob, lexicon.NSIDGraphFollow, map[string]any{"subject": alice, "createdAt": created}, pds.ValidateAuto)

	_, want, head := cleanIndex(t, h, last)
	cp, err := consumer.NewCheckpoint(lagging, ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Set(lagging, head-2); err != nil {
		t.Fatal(err)
	}
	s, err = New(Config{RelayURL: h.url, DB: lagging, NoVerify: false, Resolver: h.resolver, ResyncInterval: -1,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	_, stop = runServer(t, s)
	waitCursor(t, s, head)
	stop()
	if got := dumpDB(t, lagging); !bytes.Equal(got, want) {
		t.Fatalf("resynced index differs from the complete one:\n%s\n---\n%s", got, want)
	}
}
