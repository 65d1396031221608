package appview

import (
	"net/url"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

const created = "2026-03-01T00:00:00.000Z"

func write(t *testing.T, h *host, did, coll string, val map[string]any, v pds.Validation) (string, string) {
	t.Helper()
	res, err := h.pds.ApplyWrites(t.Context(), did, []pds.Write{{Action: repo.Create, Collection: coll, Value: val, Validate: v}}, cid.Undef)
	if err != nil {
		t.Fatalf("write %s: %v", coll, err)
	}
	return res.Results[0].URI, res.Results[0].CID.String()
}

func strongRef(uri, c string) map[string]any { return map[string]any{"uri": uri, "cid": c} }

type threadNode struct {
	Post    struct{ URI string }
	Parent  *threadNode
	Replies []threadNode
}

func TestReadsAndErrors(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	ctx := t.Context()
	alice, err := h.pds.CreateAccount(ctx, pds.CreateAccountInput{Handle: "alice.test"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := h.pds.CreateAccount(ctx, pds.CreateAccountInput{Handle: "bob.test"})
	if err != nil {
		t.Fatal(err)
	}
	auto := pds.ValidateAuto
	root, rootCID := write(t, h, alice.DID, lexicon.NSIDFeedPost, map[string]any{"text": "root", "createdAt": created}, auto)
	r1, r1CID := write(t, h, bob.DID, lexicon.NSIDFeedPost, map[string]any{"text": "r1", "createdAt": created,
		"reply": map[string]any{"root": strongRef(root, rootCID), "parent": strongRef(root, rootCID)}}, auto)
	r2, _ := write(t, h, alice.DID, lexicon.NSIDFeedPost, map[string]any{"text": "r2", "createdAt": created,
		"reply": map[string]any{"root": strongRef(root, rootCID), "parent": strongRef(r1, r1CID)}}, auto)
	write(t, h, bob.DID, lexicon.NSIDFeedLike, map[string]any{"subject": strongRef(root, rootCID), "createdAt": created}, auto)
	write(t, h, bob.DID, lexicon.NSIDFeedRepost, map[string]any{"subject": strongRef(root, rootCID), "createdAt": created}, auto)
	write(t, h, bob.DID, lexicon.NSIDGraphFollow, map[string]any{"subject": alice.DID, "createdAt": created}, auto)
	// Bad records the host lets through unvalidated.
	off := pds.ValidateOff
	write(t, h, bob.DID, lexicon.NSIDFeedPost, map[string]any{"text": int64(3), "createdAt": created}, off)
	write(t, h, bob.DID, lexicon.NSIDFeedPost, map[string]any{"text": "no date"}, off)
	write(t, h, bob.DID, lexicon.NSIDFeedPost, map[string]any{"text": strings.Repeat("x", 3001), "createdAt": created}, off)
	write(t, h, bob.DID, lexicon.NSIDFeedLike, map[string]any{"subject": "nope", "createdAt": created}, off)
	write(t, h, bob.DID, "com.example.unknown", map[string]any{"x": "y"}, off)

	db := openDB(t)
	s, stop := startAppView(t, h, db, false)
	defer stop()
	waitIndexed(t, db, marker(t, h))
	hd := s.Handler()

	sk := s.Skipped()
	if sk[index.SkipInvalidRecord] != 4 || sk[index.SkipUnknownCollection] != 1 {
		t.Errorf("skipped = %v, want 4 invalid records and 1 unknown collection", sk)
	}

	var th struct{ Thread threadNode }
	xrpcGet(t, hd, "app.bsky.feed.getPostThread", url.Values{"uri": {root}}, 200, &th)
	if len(th.Thread.Replies) != 1 || th.Thread.Replies[0].Post.URI != r1 ||
		len(th.Thread.Replies[0].Replies) != 1 || th.Thread.Replies[0].Replies[0].Post.URI != r2 {
		t.Errorf("thread of root = %+v", th.Thread)
	}
	th = struct{ Thread threadNode }{}
	xrpcGet(t, hd, "app.bsky.feed.getPostThread", url.Values{"uri": {root}, "depth": {"1"}}, 200, &th)
	if len(th.Thread.Replies) != 1 || len(th.Thread.Replies[0].Replies) != 0 {
		t.Errorf("depth 1 thread = %+v", th.Thread)
	}
	th = struct{ Thread threadNode }{}
	xrpcGet(t, hd, "app.bsky.feed.getPostThread", url.Values{"uri": {r2}, "parentHeight": {"1"}}, 200, &th)
	if th.Thread.Parent == nil || th.Thread.Parent.Post.URI != r1 || th.Thread.Parent.Parent != nil {
		t.Errorf("parentHeight 1 thread = %+v", th.Thread)
	}

	var likes struct {
		Likes []struct{ Actor struct{ DID string } }
	}
	xrpcGet(t, hd, "app.bsky.feed.getLikes", url.Values{"uri": {root}}, 200, &likes)
	if len(likes.Likes) != 1 || likes.Likes[0].Actor.DID != bob.DID {
		t.Errorf("likes = %+v", likes)
	}
	var reposts struct{ RepostedBy []struct{ DID string } }
	xrpcGet(t, hd, "app.bsky.feed.getRepostedBy", url.Values{"uri": {root}}, 200, &reposts)
	if len(reposts.RepostedBy) != 1 || reposts.RepostedBy[0].DID != bob.DID {
		t.Errorf("reposts = %+v", reposts)
	}
	var followers struct{ Followers []struct{ Handle string } }
	xrpcGet(t, hd, "app.bsky.graph.getFollowers", url.Values{"actor": {"alice.test"}}, 200, &followers)
	if len(followers.Followers) != 1 || followers.Followers[0].Handle != "bob.test" {
		t.Errorf("followers = %+v", followers)
	}
	var follows struct{ Follows []struct{ DID string } }
	xrpcGet(t, hd, "app.bsky.graph.getFollows", url.Values{"actor": {bob.DID}}, 200, &follows)
	if len(follows.Follows) != 1 || follows.Follows[0].DID != alice.DID {
		t.Errorf("follows = %+v", follows)
	}
	var feed struct {
		Feed []struct{ Post struct{ URI string } }
	}
	xrpcGet(t, hd, "app.bsky.feed.getAuthorFeed", url.Values{"actor": {bob.DID}, "filter": {"posts_no_replies"}}, 200, &feed)
	if len(feed.Feed) != 1 || feed.Feed[0].Post.URI != root { // as the reference AppView: the reply goes, the repost stays
		t.Errorf("bob's posts_no_replies feed = %+v", feed)
	}
	feed.Feed = nil
	xrpcGet(t, hd, "app.bsky.feed.getAuthorFeed", url.Values{"actor": {bob.DID}}, 200, &feed)
	if len(feed.Feed) != 2 { // the repost and the reply
		t.Errorf("bob's feed = %+v", feed)
	}
	var profiles struct{ Profiles []struct{ DID string } }
	xrpcGet(t, hd, "app.bsky.actor.getProfiles", url.Values{"actors": {"alice.test", bob.DID, "nobody.test"}}, 200, &profiles)
	if len(profiles.Profiles) != 2 {
		t.Errorf("profiles = %+v", profiles)
	}

	var xe struct{ Error, Message string }
	for _, c := range []struct {
		nsid string
		q    url.Values
		name string
	}{
		{"app.bsky.feed.getAuthorFeed", url.Values{"actor": {bob.DID}, "limit": {"101"}}, "InvalidRequest"},
		{"app.bsky.feed.getAuthorFeed", url.Values{"actor": {bob.DID}, "limit": {"0"}}, "InvalidRequest"},
		{"app.bsky.feed.getPostThread", url.Values{"uri": {root}, "depth": {"1001"}}, "InvalidRequest"},
		{"app.bsky.feed.getPostThread", url.Values{}, "InvalidRequest"},
		{"app.bsky.feed.getPostThread", url.Values{"uri": {root + "x"}}, "NotFound"},
		{"app.bsky.actor.getProfile", url.Values{"actor": {"nobody.test"}}, "InvalidRequest"},
	} {
		xe.Error, xe.Message = "", ""
		xrpcGet(t, hd, c.nsid, c.q, 400, &xe)
		if xe.Error != c.name || xe.Message == "" {
			t.Errorf("%s %v: error %+v, want %s", c.nsid, c.q, xe, c.name)
		}
	}

	// #account: a deactivated account's content disappears, and comes back.
	if err := h.pds.DeactivateAccount(ctx, bob.DID); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, db, marker(t, h))
	xrpcGet(t, hd, "app.bsky.actor.getProfile", url.Values{"actor": {bob.DID}}, 400, nil)
	likes.Likes = nil
	xrpcGet(t, hd, "app.bsky.feed.getLikes", url.Values{"uri": {root}}, 200, &likes)
	if len(likes.Likes) != 0 {
		t.Errorf("a deactivated account's like is served: %+v", likes)
	}
	if err := h.pds.ActivateAccount(ctx, bob.DID); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, db, marker(t, h))
	xrpcGet(t, hd, "app.bsky.actor.getProfile", url.Values{"actor": {bob.DID}}, 200, nil)
}
