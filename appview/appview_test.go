package appview

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

type listedRecord struct {
	URI   string          `json:"uri"`
	CID   string          `json:"cid"`
	Value json.RawMessage `json:"value"`
}

// truth is what the hosts' records say every count must be.
type truth struct {
	posts   map[string]*lexicon.FeedPost // uri -> post
	counts  map[string]map[string]int64  // subject -> field -> n
	feeds   map[string]map[string]bool   // did -> post and repost URIs
	handles map[string]string
}

func (tr *truth) add(subject, field string) {
	if tr.counts[subject] == nil {
		tr.counts[subject] = map[string]int64{}
	}
	tr.counts[subject][field]++
}

// groundTruth lists every record of every account straight from the host.
func groundTruth(t *testing.T, hosts ...*host) *truth {
	t.Helper()
	tr := &truth{posts: map[string]*lexicon.FeedPost{}, counts: map[string]map[string]int64{},
		feeds: map[string]map[string]bool{}, handles: map[string]string{}}
	for _, h := range hosts {
		tr.addHost(t, h)
	}
	return tr
}

func (tr *truth) addHost(t *testing.T, h *host) {
	accts, err := h.pds.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		tr.handles[a.DID] = a.Handle
		tr.feeds[a.DID] = map[string]bool{}
		for _, coll := range []string{lexicon.NSIDFeedPost, lexicon.NSIDFeedLike, lexicon.NSIDFeedRepost, lexicon.NSIDGraphFollow} {
			for _, r := range listRecords(t, h, a.DID, coll) {
				switch coll {
				case lexicon.NSIDFeedPost:
					var p lexicon.FeedPost
					mustJSON(t, r.Value, &p)
					tr.posts[r.URI] = &p
					tr.feeds[a.DID][r.URI] = true
					tr.add(a.DID, "postsCount")
					if p.Reply != nil {
						tr.add(p.Reply.Parent.URI, "replyCount")
					}
					if q := index.QuotedURI(&p); q != "" {
						tr.add(q, "quoteCount")
					}
				case lexicon.NSIDFeedLike:
					var l lexicon.FeedLike
					mustJSON(t, r.Value, &l)
					tr.add(l.Subject.URI, "likeCount")
				case lexicon.NSIDFeedRepost:
					var rp lexicon.FeedRepost
					mustJSON(t, r.Value, &rp)
					tr.add(rp.Subject.URI, "repostCount")
					tr.feeds[a.DID][r.URI] = true
				case lexicon.NSIDGraphFollow:
					var f lexicon.GraphFollow
					mustJSON(t, r.Value, &f)
					tr.add(f.Subject, "followersCount")
					tr.add(a.DID, "followsCount")
				}
			}
		}
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func listRecords(t *testing.T, h *host, did, coll string) []listedRecord {
	t.Helper()
	var all []listedRecord
	cursor := ""
	for {
		q := url.Values{"repo": {did}, "collection": {coll}, "limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		rec := httptest.NewRecorder()
		h.pds.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/xrpc/com.atproto.repo.listRecords?"+q.Encode(), nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("listRecords: %d %s", rec.Code, rec.Body)
		}
		var out struct {
			Cursor  string         `json:"cursor"`
			Records []listedRecord `json:"records"`
		}
		mustJSON(t, rec.Body.Bytes(), &out)
		all = append(all, out.Records...)
		if out.Cursor == "" || len(out.Records) == 0 {
			return all
		}
		cursor = out.Cursor
	}
}

// marker writes one more post and returns its URI: once the AppView has
// indexed it, it has indexed everything before it.
func marker(t testing.TB, h *host) string {
	t.Helper()
	accts, err := h.pds.Accounts()
	if err != nil || len(accts) == 0 {
		t.Fatal(err)
	}
	res, err := h.pds.ApplyWrites(t.Context(), accts[0].DID, []pds.Write{{Action: repo.Create,
		Collection: lexicon.NSIDFeedPost, Value: map[string]any{"text": "marker " + strconv.FormatInt(time.Now().UnixNano(), 10),
			"createdAt": "2026-03-02T00:00:00.000Z"}}}, cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	return res.Results[0].URI
}

// startAppView runs an AppView on db against the host until the test ends.
func startAppView(t *testing.T, h *host, db *pebble.DB, noVerify bool) (*Server, func()) {
	t.Helper()
	s, err := New(Config{RelayURL: h.url, DB: db, NoVerify: noVerify, Resolver: h.resolver, NoSync: true,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return runServer(t, s)
}

// runServer runs s until the returned stop is called.
func runServer(t *testing.T, s *Server) (*Server, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	return s, stop
}

func waitIndexed(t *testing.T, db *pebble.DB, uri string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok, err := index.GetRecord(db, uri); err != nil {
			t.Fatal(err)
		} else if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s was never indexed", uri)
}

func openDB(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietPebble{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestIndexMatchesHosts(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	drive(t, h, 8, 300, 1)
	db := openDB(t)
	s, stop := startAppView(t, h, db, false)
	defer stop()
	waitIndexed(t, db, marker(t, h))
	checkAgainstTruth(t, s.Handler(), groundTruth(t, h))
}

// checkAgainstTruth compares every post's and every profile's counts, and
// every author feed, with what the hosts' records say.
func checkAgainstTruth(t *testing.T, hd http.Handler, tr *truth) {
	t.Helper()
	if len(tr.posts) < 20 {
		t.Fatalf("only %d posts were written", len(tr.posts))
	}

	// Every post's counts.
	var uris []string
	for u := range tr.posts {
		uris = append(uris, u)
	}
	for i := 0; i < len(uris); i += 25 {
		batch := uris[i:min(len(uris), i+25)]
		var out struct{ Posts []map[string]any }
		xrpcGet(t, hd, "app.bsky.feed.getPosts", url.Values{"uris": batch}, 200, &out)
		if len(out.Posts) != len(batch) {
			t.Fatalf("getPosts returned %d of %d posts", len(out.Posts), len(batch))
		}
		for _, p := range out.Posts {
			u := p["uri"].(string)
			for _, f := range []string{"likeCount", "repostCount", "replyCount", "quoteCount"} {
				if got, want := int64(p[f].(float64)), tr.counts[u][f]; got != want {
					t.Errorf("%s %s = %d, want %d", u, f, got, want)
				}
			}
		}
	}
	// Every profile's counts, and every author feed in full, page by page.
	for did, handle := range tr.handles {
		var p map[string]any
		xrpcGet(t, hd, "app.bsky.actor.getProfile", url.Values{"actor": {did}}, 200, &p)
		for _, f := range []string{"followersCount", "followsCount", "postsCount"} {
			if got, want := int64(p[f].(float64)), tr.counts[did][f]; got != want {
				t.Errorf("%s %s = %d, want %d", did, f, got, want)
			}
		}
		if p["handle"] != handle {
			t.Errorf("%s handle = %v, want %s", did, p["handle"], handle)
		}
		seen := map[string]bool{}
		cursor := ""
		for {
			q := url.Values{"actor": {handle}, "limit": {"7"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var out struct {
				Cursor string
				Feed   []struct {
					Post   struct{ URI string }
					Reason *struct{ URI string }
				}
			}
			xrpcGet(t, hd, "app.bsky.feed.getAuthorFeed", q, 200, &out)
			for _, it := range out.Feed {
				u := it.Post.URI
				if it.Reason != nil {
					u = it.Reason.URI
				}
				seen[u] = true
			}
			if out.Cursor == "" {
				break
			}
			cursor = out.Cursor
		}
		for u := range tr.feeds[did] {
			if !seen[u] {
				// A repost of a deleted post is legitimately absent.
				if _, isPost := tr.posts[u]; isPost {
					t.Errorf("author feed of %s misses %s", did, u)
				}
			}
		}
	}
}
