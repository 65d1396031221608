package feedgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/conflux-atproto/conflux/feedgen/feedfile"
	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/pdstest"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

const (
	testPublisher = "did:web:pub.test"
	testService   = "did:web:feeds.test"
)

// funcFeed is a test feed from a predicate.
type funcFeed struct {
	name string
	keep func(*plugin.Post) bool
}

func (f funcFeed) Name() string { return f.name }
func (f funcFeed) Match(p *plugin.Post) plugin.Decision {
	return plugin.Decision{Keep: f.keep(p)}
}

// testPost is what the test wrote, for the reference filters.
type testPost struct {
	uri, author string
	text        string
	tags        []string
	lang        string
	reply       bool
	deleted     bool
}

// testFeedFile defines feeds with the built-in filters of package feedfile.
const testFeedFile = `{"feeds": [
  {"name": "file-go-en", "rule": {"all": [{"hashtag": "go"}, {"not": {"lang": "fr"}}]}},
  {"name": "file-rust-rp", "rule": {"any": [
    {"keyword": {"words": ["rust"], "case": true}},
    {"all": [{"hashtag": ["rust"]}, {"reply": true}]}]}}
]}`

// feedNames are all feeds of newTestGenerator.
var feedNames = []string{"all", "golang", "french", "file-go-en", "file-rust-rp"}

func testFeeds() []funcFeed {
	return []funcFeed{
		{"all", func(*plugin.Post) bool { return true }},
		{"golang", func(p *plugin.Post) bool { return p.HasTag("go") }},
		{"french", func(p *plugin.Post) bool { return p.HasLang("fr") && !p.IsReply() }},
	}
}

// reference reports whether the named test feed keeps tp (plain code,
// independent of plugin.Post).
func reference(feed string, tp testPost) bool {
	switch feed {
	case "all":
		return true
	case "golang":
		return slices.Contains(tp.tags, "go")
	case "french":
		return tp.lang == "fr" && !tp.reply
	case "file-go-en":
		return slices.Contains(tp.tags, "go") && tp.lang != "fr"
	case "file-rust-rp":
		return strings.Contains(tp.text, "rust") || (slices.Contains(tp.tags, "rust") && tp.reply)
	}
	panic("unknown feed " + feed)
}

func newTestGenerator(t testing.TB, db *pebble.DB) *Generator {
	t.Helper()
	var reg plugin.Registry
	for _, f := range testFeeds() {
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	ff, err := feedfile.Parse([]byte(testFeedFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ff {
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	g, err := New(Config{DB: db, Feeds: &reg, PublisherDID: testPublisher, ServiceDID: testService, Hostname: "feeds.test"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func memDB(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// startPDS runs a real PDS serving subscribeRepos on 127.0.0.1.
func startPDS(t *testing.T) (*pds.PDS, string) {
	t.Helper()
	return pdstest.Start(t, pds.Config{})
}

func writeScenario(t *testing.T, p *pds.PDS, rng *rand.Rand, n int) ([]testPost, int64) {
	t.Helper()
	ctx := t.Context()
	var dids []string
	for _, h := range []string{"alice.test", "bob.test"} {
		a, err := p.CreateAccount(ctx, pds.CreateAccountInput{Handle: h, Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		dids = append(dids, a.DID)
	}
	var posts []testPost
	tagsPool := [][]string{nil, {"go"}, {"rust"}, {"go", "rust"}}
	for i := range n {
		tp := testPost{author: dids[rng.IntN(2)], text: fmt.Sprintf("post %d %s", i, []string{"", "rust", "Rust"}[rng.IntN(3)]), tags: tagsPool[rng.IntN(4)], lang: []string{"en", "fr"}[rng.IntN(2)]}
		rec := map[string]any{"text": tp.text, "createdAt": time.Now().UTC().Format(time.RFC3339Nano), "langs": []any{tp.lang}}
		if len(tp.tags) > 0 {
			tags := make([]any, len(tp.tags))
			for j, s := range tp.tags {
				tags[j] = s
			}
			rec["tags"] = tags
		}
		if len(posts) > 0 && rng.IntN(4) == 0 {
			parent := posts[rng.IntN(len(posts))]
			ref := map[string]any{"uri": parent.uri, "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}
			rec["reply"] = map[string]any{"root": ref, "parent": ref}
			tp.reply = true
		}
		res, err := p.ApplyWrites(ctx, tp.author, []pds.Write{{Action: repo.Create, Collection: "app.bsky.feed.post", Value: rec}}, cidUndef)
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		tp.uri = res.Results[0].URI
		posts = append(posts, tp)
	}
	for i := range posts {
		if rng.IntN(5) == 0 {
			_, rkey := splitURI(posts[i].uri)
			if _, err := p.ApplyWrites(ctx, posts[i].author, []pds.Write{{Action: repo.Delete, Collection: "app.bsky.feed.post", RKey: rkey}}, cidUndef); err != nil {
				t.Fatal(err)
			}
			posts[i].deleted = true
		}
	}
	if err := p.DeleteAccount(ctx, dids[1]); err != nil {
		t.Fatal(err)
	}
	for i := range posts {
		if posts[i].author == dids[1] {
			posts[i].deleted = true
		}
	}
	// A last post marks the head: once it is processed, everything is.
	res, err := p.ApplyWrites(ctx, dids[0], []pds.Write{{Action: repo.Create, Collection: "app.bsky.feed.post",
		Value: map[string]any{"text": "last", "createdAt": time.Now().UTC().Format(time.RFC3339Nano)}}}, cidUndef)
	if err != nil {
		t.Fatal(err)
	}
	posts = append(posts, testPost{uri: res.Results[0].URI, author: dids[0], text: "last"})
	return posts, res.Seq
}

// consume runs a durable consumer into db until its cursor reaches stopAt,
// then stops it.
func consume(t *testing.T, db *pebble.DB, g *Generator, url, name string, stopAt int64, maxBatch int) {
	t.Helper()
	runConsumer(t, db, g, url, name, stopAt, maxBatch)
}

var errCrash = errors.New("simulated crash")

// consumeCrash runs a durable consumer that dies (its handler fails) on the
// event with seq crashAt, after committing the events before it in batches
// of maxBatch.
func consumeCrash(t *testing.T, db *pebble.DB, g *Generator, url, name string, crashAt int64, maxBatch int) {
	t.Helper()
	h := consumer.DurableHandlerFunc(func(ctx context.Context, ev consumer.Event, b *pebble.Batch) error {
		if err := g.HandleEvent(ctx, ev, b); err != nil {
			return err
		}
		if ev.Seq == crashAt {
			return errCrash
		}
		return nil
	})
	c, err := consumer.New(consumer.Config{
		URL: url, Cursor: 0, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Durable: &consumer.Durable{DB: db, Name: name, Handler: h, NoSync: true, MaxBatchEvents: maxBatch},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(t.Context()); !errors.Is(err, errCrash) {
		t.Fatalf("consumer: %v, want the simulated crash", err)
	}
	if c.Cursor() >= crashAt {
		t.Fatalf("cursor %d moved past the crashed event %d", c.Cursor(), crashAt)
	}
}

func runConsumer(t *testing.T, db *pebble.DB, g consumer.DurableHandler, url, name string, stopAt int64, maxBatch int) {
	t.Helper()
	if err := runConsumerErr(t.Context(), db, g, url, name, stopAt, maxBatch); err != nil {
		t.Fatal(err)
	}
}

// runConsumerErr is runConsumer for goroutines other than the test's.
func runConsumerErr(ctx context.Context, db *pebble.DB, g consumer.DurableHandler, url, name string, stopAt int64, maxBatch int) error {
	c, err := consumer.New(consumer.Config{
		URL: url, Cursor: 0, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Durable: &consumer.Durable{DB: db, Name: name, Handler: g, NoSync: true, MaxBatchEvents: maxBatch},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for c.Cursor() < stopAt {
		select {
		case err := <-done:
			return fmt.Errorf("consumer %s stopped early: %v", name, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		return fmt.Errorf("consumer %s: %w", name, err)
	}
	return nil
}

// dump returns every index key and value of db except consumer cursors
// and feed versions (cache validators, random per batch: a replay may
// change them, which only costs a cache rebuild).
func dump(t *testing.T, db *pebble.DB) map[string]string {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{UpperBound: []byte{0xff}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		if it.Key()[0] == index.VersionKey("")[0] {
			continue
		}
		out[string(it.Key())] = string(it.Value())
	}
	return out
}

var cidUndef cid.CID

func splitURI(uri string) (did, rkey string) {
	rest := strings.TrimPrefix(uri, "at://")
	did, rest, _ = strings.Cut(rest, "/")
	_, rkey, _ = strings.Cut(rest, "/")
	return did, rkey
}

// page fetches all of a feed through HTTP with the given page size.
func fetchAll(t *testing.T, srv *httptest.Server, g *Generator, feed string, limit int) []string {
	t.Helper()
	var out []string
	cursor := ""
	for range 10000 {
		body := getSkeleton(t, srv, g.FeedURI(feed), limit, cursor, http.StatusOK)
		for _, it := range body.Feed {
			out = append(out, it.Post)
		}
		if body.Cursor == "" {
			return out
		}
		if body.Cursor == cursor {
			t.Fatal("cursor echoed")
		}
		cursor = body.Cursor
	}
	t.Fatal("pagination does not end")
	return nil
}

func getSkeleton(t testing.TB, srv *httptest.Server, feed string, limit int, cursor string, want int) skeletonOut {
	t.Helper()
	q := url.Values{"feed": {feed}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	resp, err := srv.Client().Get(srv.URL + "/xrpc/app.bsky.feed.getFeedSkeleton?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d want %d: %s", resp.StatusCode, want, b)
	}
	var out skeletonOut
	if want == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
