package feedgen

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/conflux-atproto/conflux/feedgen/feedfile"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo"
)

// counter is a feed that counts likes and reposts per subject.
type counter struct {
	likes, reposts map[string]int
	deleted        []string
}

func (*counter) Name() string                       { return "count" }
func (*counter) Match(*plugin.Post) plugin.Decision { return plugin.Keep }
func (c *counter) OnDelete(uri string)              { c.deleted = append(c.deleted, uri) }
func (c *counter) OnInteraction(in plugin.Interaction) {
	switch in.Kind {
	case plugin.Like:
		c.likes[in.Subject] += in.Delta
	case plugin.Repost:
		c.reposts[in.Subject] += in.Delta
	}
}

func TestInteractionHooks(t *testing.T) {
	t.Parallel()
	p, u := startPDS(t)
	ctx := t.Context()
	var dids []string
	for _, h := range []string{"a.test", "b.test"} {
		a, err := p.CreateAccount(ctx, pds.CreateAccountInput{Handle: h, Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		dids = append(dids, a.DID)
	}
	write := func(did string, w pds.Write) pds.CommitResult {
		t.Helper()
		res, err := p.ApplyWrites(ctx, did, []pds.Write{w}, cidUndef)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	post := write(dids[0], pds.Write{Action: repo.Create, Collection: "app.bsky.feed.post",
		Value: map[string]any{"text": "like me", "createdAt": "2026-01-01T00:00:00Z"}}).Results[0]
	ref := map[string]any{"uri": post.URI, "cid": post.CID.String()}
	var likeRKeys []string
	for _, did := range dids {
		r := write(did, pds.Write{Action: repo.Create, Collection: "app.bsky.feed.like",
			Value: map[string]any{"subject": ref, "createdAt": "2026-01-01T00:00:00Z"}}).Results[0]
		_, rkey := splitURI(r.URI)
		likeRKeys = append(likeRKeys, rkey)
	}
	write(dids[1], pds.Write{Action: repo.Create, Collection: "app.bsky.feed.repost",
		Value: map[string]any{"subject": ref, "createdAt": "2026-01-01T00:00:00Z"}})
	write(dids[1], pds.Write{Action: repo.Delete, Collection: "app.bsky.feed.like", RKey: likeRKeys[1]})
	_, postRKey := splitURI(post.URI)
	head := write(dids[0], pds.Write{Action: repo.Delete, Collection: "app.bsky.feed.post", RKey: postRKey}).Seq

	c := &counter{likes: map[string]int{}, reposts: map[string]int{}}
	var reg plugin.Registry
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	db := memDB(t)
	g, err := New(Config{DB: db, Feeds: &reg, PublisherDID: testPublisher, ServiceDID: testService})
	if err != nil {
		t.Fatal(err)
	}
	consume(t, db, g, u, "feedgen", head, 0)
	if c.likes[post.URI] != 1 || c.reposts[post.URI] != 1 {
		t.Fatalf("likes %v reposts %v, want 1 and 1", c.likes, c.reposts)
	}
	if len(c.deleted) != 1 || c.deleted[0] != post.URI {
		t.Fatalf("OnDelete calls %v", c.deleted)
	}
}

func TestMinLikes(t *testing.T) {
	t.Parallel()
	p, u := startPDS(t)
	ctx := t.Context()
	var dids []string
	for _, h := range []string{"a.test", "b.test"} {
		a, err := p.CreateAccount(ctx, pds.CreateAccountInput{Handle: h, Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		dids = append(dids, a.DID)
	}
	write := func(did string, w pds.Write) pds.CommitResult {
		t.Helper()
		res, err := p.ApplyWrites(ctx, did, []pds.Write{w}, cidUndef)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var posts []pds.WriteResult
	for i := range 3 {
		posts = append(posts, write(dids[0], pds.Write{Action: repo.Create, Collection: "app.bsky.feed.post",
			Value: map[string]any{"text": fmt.Sprint("post ", i), "createdAt": "2026-01-01T00:00:00Z"}}).Results[0])
	}
	like := func(did string, post pds.WriteResult) string {
		r := write(did, pds.Write{Action: repo.Create, Collection: "app.bsky.feed.like",
			Value: map[string]any{"subject": map[string]any{"uri": post.URI, "cid": post.CID.String()}, "createdAt": "2026-01-01T00:00:00Z"}}).Results[0]
		_, rkey := splitURI(r.URI)
		return rkey
	}
	like(dids[0], posts[0])
	like(dids[1], posts[0])
	like(dids[1], posts[1])
	gone := like(dids[0], posts[2])
	head := write(dids[0], pds.Write{Action: repo.Delete, Collection: "app.bsky.feed.like", RKey: gone}).Seq

	fs, err := feedfile.Parse([]byte(`{"feeds": [
		{"name": "two", "minLikes": 2, "rule": {"reply": false}},
		{"name": "one", "minLikes": 1, "authorCap": 1, "rule": {"reply": false}},
		{"name": "one-nocap", "minLikes": 1, "rule": {"reply": false}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg plugin.Registry
	for _, f := range fs {
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	db := memDB(t)
	g, err := New(Config{DB: db, Feeds: &reg, PublisherDID: testPublisher, ServiceDID: testService})
	if err != nil {
		t.Fatal(err)
	}
	consume(t, db, g, u, "feedgen", head, 0)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	for feed, want := range map[string][]string{
		"two":       {posts[0].URI},
		"one":       {posts[1].URI}, // newest liked post; the cap hides the older one
		"one-nocap": {posts[1].URI, posts[0].URI},
	} {
		if got := fetchAll(t, srv, g, feed, 10); !slices.Equal(got, want) {
			t.Errorf("feed %s: %v, want %v", feed, got, want)
		}
	}
}

// TestRankedFromStream: a RankScore feed counts likes and reposts from a
// real stream (like deletes included) and is served by the decayed score.
func TestRankedFromStream(t *testing.T) {
	t.Parallel()
	p, u := startPDS(t)
	ctx := t.Context()
	a, err := p.CreateAccount(ctx, pds.CreateAccountInput{Handle: "a.test", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	write := func(w pds.Write) pds.CommitResult {
		t.Helper()
		res, err := p.ApplyWrites(ctx, a.DID, []pds.Write{w}, cidUndef)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var posts []pds.WriteResult
	for i := range 3 {
		posts = append(posts, write(pds.Write{Action: repo.Create, Collection: "app.bsky.feed.post",
			Value: map[string]any{"text": fmt.Sprint("post ", i), "createdAt": "2026-01-01T00:00:00Z"}}).Results[0])
	}
	interact := func(coll string, post pds.WriteResult) string {
		r := write(pds.Write{Action: repo.Create, Collection: coll,
			Value: map[string]any{"subject": map[string]any{"uri": post.URI, "cid": post.CID.String()}, "createdAt": "2026-01-01T00:00:00Z"}}).Results[0]
		_, rkey := splitURI(r.URI)
		return rkey
	}
	// post0: 2 likes then one removed (1 point); post1: 1 repost (1 point,
	// newer, so it leads); post2: 3 likes.
	interact("app.bsky.feed.like", posts[0])
	gone := interact("app.bsky.feed.like", posts[0])
	interact("app.bsky.feed.repost", posts[1])
	for range 3 {
		interact("app.bsky.feed.like", posts[2])
	}
	head := write(pds.Write{Action: repo.Delete, Collection: "app.bsky.feed.like", RKey: gone}).Seq

	var reg plugin.Registry
	if err := reg.Register(hotFeed{}); err != nil {
		t.Fatal(err)
	}
	db := memDB(t)
	g, err := New(Config{DB: db, Feeds: &reg, PublisherDID: testPublisher, ServiceDID: testService})
	if err != nil {
		t.Fatal(err)
	}
	consume(t, db, g, u, "feedgen", head, 0)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	want := []string{posts[2].URI, posts[1].URI, posts[0].URI}
	if got := fetchAll(t, srv, g, "hot", 2); !slices.Equal(got, want) {
		t.Fatalf("ranked feed %v, want %v", got, want)
	}
}
