package lexicon

import (
	"errors"
	"testing"
)

func TestDefaultCatalogLoadsAndResolves(t *testing.T) {
	t.Parallel()
	c := Default()
	if err := c.CheckRefs(); err != nil {
		t.Fatalf("embedded schemas have broken refs:\n%v", err)
	}
	want := []string{
		"app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.feed.repost", "app.bsky.feed.generator",
		"app.bsky.feed.threadgate", "app.bsky.graph.follow", "app.bsky.actor.profile",
		"app.bsky.richtext.facet", "app.bsky.embed.images", "app.bsky.embed.external",
		"app.bsky.embed.record", "app.bsky.embed.recordWithMedia", "app.bsky.embed.video",
		"app.bsky.embed.defs", "com.atproto.repo.strongRef", "com.atproto.label.defs",
		"app.bsky.feed.defs", "app.bsky.actor.defs", "app.bsky.graph.defs",
		"app.bsky.labeler.defs", "app.bsky.notification.defs",
		"app.bsky.feed.getFeedSkeleton", "app.bsky.feed.describeFeedGenerator",
		"app.bsky.feed.getAuthorFeed", "app.bsky.feed.getPosts", "app.bsky.feed.getPostThread",
		"app.bsky.feed.getLikes", "app.bsky.feed.getRepostedBy", "app.bsky.actor.getProfile",
		"app.bsky.actor.getProfiles", "app.bsky.graph.getFollowers", "app.bsky.graph.getFollows",
		"com.atproto.sync.subscribeRepos", "com.atproto.sync.getRepo", "com.atproto.sync.getLatestCommit",
		"com.atproto.sync.getRepoStatus", "com.atproto.sync.listRepos", "com.atproto.sync.getRecord",
		"com.atproto.sync.listHosts", "com.atproto.sync.getHostStatus", "com.atproto.sync.requestCrawl",
		"com.atproto.sync.defs", "com.atproto.repo.createRecord", "com.atproto.repo.putRecord",
		"com.atproto.repo.deleteRecord", "com.atproto.repo.applyWrites", "com.atproto.repo.getRecord",
		"com.atproto.repo.listRecords", "com.atproto.repo.describeRepo", "com.atproto.repo.defs",
		"com.atproto.server.createAccount", "com.atproto.server.createSession",
		"com.atproto.server.describeServer", "com.atproto.identity.resolveHandle",
	}
	for _, id := range want {
		if _, ok := c.Get(id); !ok {
			t.Errorf("embedded catalog lacks %s", id)
		}
	}
	if got := len(c.NSIDs()); got != len(want) {
		t.Errorf("%d schemas embedded, test lists %d: %v", got, len(want), c.NSIDs())
	}
	if err := c.LoadJSON([]byte(`{"lexicon":1,"id":"a.b.c","defs":{"x":{"type":"integer"}}}`)); !errors.Is(err, ErrFrozen) {
		t.Errorf("LoadJSON on the shared catalog: %v, want ErrFrozen", err)
	}
}
