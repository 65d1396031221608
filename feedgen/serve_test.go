package feedgen

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/feedgen/feedfile"
	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

func TestSkeletonErrors(t *testing.T) {
	t.Parallel()
	db := memDB(t)
	g := newTestGenerator(t, db)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	cases := []struct {
		name   string
		q      url.Values
		status int
		xerr   string
	}{
		{"no feed", url.Values{}, 400, "InvalidRequest"},
		{"unknown feed", url.Values{"feed": {g.FeedURI("nope")}}, 400, "UnknownFeed"},
		{"other publisher", url.Values{"feed": {"at://did:web:x.test/app.bsky.feed.generator/all"}}, 400, "UnknownFeed"},
		{"limit 0", url.Values{"feed": {g.FeedURI("all")}, "limit": {"0"}}, 400, "InvalidRequest"},
		{"limit 101", url.Values{"feed": {g.FeedURI("all")}, "limit": {"101"}}, 400, "InvalidRequest"},
		{"limit junk", url.Values{"feed": {g.FeedURI("all")}, "limit": {"x"}}, 400, "InvalidRequest"},
		{"bad cursor", url.Values{"feed": {g.FeedURI("all")}, "cursor": {"!!"}}, 400, "InvalidRequest"},
		{"short cursor", url.Values{"feed": {g.FeedURI("all")}, "cursor": {"AAAA"}}, 400, "InvalidRequest"},
		{"ok", url.Values{"feed": {g.FeedURI("all")}, "limit": {"100"}}, 200, ""},
	}
	for _, c := range cases {
		resp, err := srv.Client().Get(srv.URL + "/xrpc/app.bsky.feed.getFeedSkeleton?" + c.q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var body xrpcBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status || body.Error != c.xerr {
			t.Errorf("%s: %d %q, want %d %q", c.name, resp.StatusCode, body.Error, c.status, c.xerr)
		}
	}
}

func TestSkeletonDefaultLimitAndLastPage(t *testing.T) {
	t.Parallel()
	db := memDB(t)
	g := newTestGenerator(t, db)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	b := db.NewIndexedBatch()
	for i := range 51 {
		if err := index.Add(b, "all", "did:plc:a", "at://did:plc:a/app.bsky.feed.post/"+string(rune('a'+i%26))+string(rune('a'+i/26)), 7); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	p1 := getSkeleton(t, srv, g.FeedURI("all"), 0, "", 200)
	if len(p1.Feed) != DefaultLimit || p1.Cursor == "" {
		t.Fatalf("first page: %d items, cursor %q", len(p1.Feed), p1.Cursor)
	}
	p2 := getSkeleton(t, srv, g.FeedURI("all"), 0, p1.Cursor, 200)
	if len(p2.Feed) != 1 || p2.Cursor != "" {
		t.Fatalf("last page: %d items, cursor %q", len(p2.Feed), p2.Cursor)
	}
	// Exactly a full page left: no cursor either.
	p3 := getSkeleton(t, srv, g.FeedURI("all"), 51, "", 200)
	if len(p3.Feed) != 51 || p3.Cursor != "" {
		t.Fatalf("exact page: %d items, cursor %q", len(p3.Feed), p3.Cursor)
	}
	empty := getSkeleton(t, srv, g.FeedURI("golang"), 0, "", 200)
	if len(empty.Feed) != 0 || empty.Cursor != "" {
		t.Fatalf("empty feed: %+v", empty)
	}
}

func TestDescribeAndDIDDoc(t *testing.T) {
	t.Parallel()
	g := newTestGenerator(t, memDB(t))
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	var d describeOut
	getJSON(t, srv.URL+"/xrpc/app.bsky.feed.describeFeedGenerator", &d)
	if d.DID != testService || len(d.Feeds) != len(feedNames) || d.Feeds[0].URI != g.FeedURI("all") {
		t.Fatalf("describe: %+v", d)
	}
	var doc didDoc
	getJSON(t, srv.URL+"/.well-known/did.json", &doc)
	if doc.ID != testService || len(doc.Service) != 1 || doc.Service[0].ID != "#bsky_fg" ||
		doc.Service[0].Type != "BskyFeedGenerator" || doc.Service[0].ServiceEndpoint != "https://feeds.test" {
		t.Fatalf("did doc: %+v", doc)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestExpire(t *testing.T) {
	t.Parallel()
	db := memDB(t)
	g := newTestGenerator(t, db)
	now := time.Unix(1_800_000_000, 0)
	b := db.NewIndexedBatch()
	old, fresh := "at://did:plc:a/app.bsky.feed.post/old", "at://did:plc:a/app.bsky.feed.post/new"
	for _, f := range []string{"all", "golang"} {
		if err := index.Add(b, f, "did:plc:a", old, index.Micros(now.Add(-8*24*time.Hour))); err != nil {
			t.Fatal(err)
		}
		if err := index.Add(b, f, "did:plc:a", fresh, index.Micros(now.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	n, err := g.Expire(now)
	if err != nil || n != 2 {
		t.Fatalf("expired %d, %v; want 2", n, err)
	}
	for _, f := range []string{"all", "golang"} {
		items, more, err := index.Page(db, f, nil, 10)
		if err != nil || more || len(items) != 1 || items[0].URI != fresh {
			t.Fatalf("%s after expire: %v %v %v", f, items, more, err)
		}
	}
	// The membership of the expired post is gone too: deleting it is a no-op
	// and leaves the fresh one.
	for k := range dump(t, db) {
		if k[0] == 0x02 && strings.HasSuffix(k, "\x00"+old) {
			t.Fatalf("membership of expired post left: %q", k)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(index.Item{URI: "at://did:plc:a/app.bsky.feed.post/1", IndexedAt: 5}))
	f.Add(encodeCursor(index.Item{URI: "at://x", IndexedAt: -1}))
	f.Add("")
	f.Add("AAAAAAAAAAA")
	f.Add("////")
	f.Fuzz(func(t *testing.T, s string) {
		it, err := decodeCursor(s)
		if err != nil {
			return
		}
		if back := encodeCursor(it); back != s {
			// Base64 may have non-canonical trailing bits; the decoded item
			// must still round-trip.
			again, err := decodeCursor(back)
			if err != nil || again != it {
				t.Fatalf("round trip: %q -> %+v -> %q -> %+v, %v", s, it, back, again, err)
			}
		}
	})
}

func FuzzDecodeRankCursor(f *testing.F) {
	seed := func(rc rankCursor) string {
		b := appendRankCursor(nil, rc)
		return string(b[len(`],"cursor":"`) : len(b)-1])
	}
	f.Add(seed(rankCursor{gen: 1, offset: 50, score: 0.25, ts: 7, uri: "at://did:plc:a/app.bsky.feed.post/1"}))
	f.Add(seed(rankCursor{gen: math.MaxUint64, offset: math.MaxUint32, score: math.Inf(-1), ts: -1, uri: "at://x"}))
	f.Add(encodeCursor(index.Item{URI: "at://did:plc:a/app.bsky.feed.post/1", IndexedAt: 5}))
	f.Add("")
	f.Add(strings.Repeat("A", 40))
	f.Fuzz(func(t *testing.T, s string) {
		rc, err := decodeRankCursor(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v is not ErrInvalidRequest", err)
			}
			return
		}
		again, err := decodeRankCursor(seed(rc))
		if err != nil || again != rc {
			t.Fatalf("round trip: %q -> %+v -> %+v, %v", s, rc, again, err)
		}
	})
}

func FuzzParseSkeletonQuery(f *testing.F) {
	f.Add("feed=at%3A%2F%2Fdid%3Aweb%3Apub.test%2Fapp.bsky.feed.generator%2Fall&limit=50&cursor=AAAA")
	f.Add("limit=1&limit=2&feed=&feed=x&other=%zz")
	f.Add("cursor=%zz")
	f.Add("&&=&feed")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseSkeletonQuery(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v is not ErrInvalidRequest", err)
			}
			return
		}
		vals, perr := url.ParseQuery(raw)
		if perr != nil || strings.ContainsAny(raw, "%+;") {
			return // escapes in names, or a query net/url refuses
		}
		first := func(name string) string {
			for _, v := range vals[name] {
				if v != "" {
					return v
				}
			}
			return ""
		}
		if q.feed != first("feed") || q.limit != first("limit") || q.cursor != first("cursor") {
			t.Fatalf("%q: %+v, net/url %v", raw, q, vals)
		}
	})
}

// TestCursorEncodings: the cursor appended to a page is the one
// encodeCursor makes.
func TestCursorEncodings(t *testing.T) {
	t.Parallel()
	it := index.Item{URI: "at://did:plc:a/app.bsky.feed.post/" + strings.Repeat("x", 300), IndexedAt: -42}
	b := appendCursor(nil, it)
	if got := string(b[len(`],"cursor":"`) : len(b)-1]); got != encodeCursor(it) {
		t.Fatalf("appendCursor %q, encodeCursor %q", got, encodeCursor(it))
	}
	for _, u := range []string{"at://a/b", "at://a/\"b\"<&>", "at://a/\u00e9\x01"} {
		var v string
		if err := json.Unmarshal(appendJSONString(nil, u), &v); err != nil || v != u {
			t.Fatalf("appendJSONString(%q): %q, %v", u, v, err)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p, u := startPDS(t)
	_, head := writeScenario(t, p, rand.New(rand.NewPCG(5, 6)), 10)
	db := memDB(t)
	g := newTestGenerator(t, db)
	g.cfg.Metrics = m
	consume(t, db, g, u, "feedgen", head, 0)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	getSkeleton(t, srv, g.FeedURI("all"), 5, "", http.StatusOK)
	getSkeleton(t, srv, g.FeedURI("all"), 5, "", http.StatusOK) // the same head
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			found[mf.GetName()]++
			if mf.GetName() == "conflux_feedgen_posts_indexed_total" && s.GetLabel()[0].GetValue() == "all" && s.GetCounter().GetValue() < 10 {
				t.Errorf("indexed into all: %v", s.GetCounter().GetValue())
			}
		}
	}
	for _, mf := range mfs {
		if mf.GetName() == "conflux_feedgen_view_builds_total" {
			if c := mf.GetMetric()[0].GetCounter().GetValue(); len(mf.GetMetric()) != 1 || c != 1 {
				t.Errorf("view builds: %d series, first %v; want one head built once", len(mf.GetMetric()), c)
			}
		}
	}
	if found["conflux_feedgen_lag_seconds"] != len(feedNames) || found["conflux_feedgen_posts_indexed_total"] == 0 ||
		found["conflux_feedgen_view_builds_total"] != 1 {
		t.Fatalf("series: %v", found)
	}
	var nilM *Metrics
	nilM.drop(DropBadCAR) // a nil Metrics is a no-op
}

func TestAuthorCap(t *testing.T) {
	t.Parallel()
	fs, err := feedfile.Parse([]byte(`{"feeds": [{"name": "capped", "authorCap": 2, "rule": {"reply": false}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg plugin.Registry
	if err := reg.Register(fs[0]); err != nil {
		t.Fatal(err)
	}
	db := memDB(t)
	g, err := New(Config{DB: db, Feeds: &reg, PublisherDID: testPublisher, ServiceDID: testService})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	b := db.NewIndexedBatch()
	// Newest first: a5 a4 a3 b3 a2 b2 a1 b1.
	for i, u := range []string{"b1", "a1", "b2", "a2", "b3", "a3", "a4", "a5"} {
		did := "did:plc:" + u[:1]
		if err := index.Add(b, "capped", did, "at://"+did+"/app.bsky.feed.post/"+u, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	cursor := ""
	for {
		page := getSkeleton(t, srv, g.FeedURI("capped"), 3, cursor, 200)
		for _, it := range page.Feed {
			got = append(got, it.Post[strings.LastIndexByte(it.Post, '/')+1:])
		}
		if page.Cursor == "" {
			break
		}
		cursor = page.Cursor
	}
	// Page 1 scans a5 a4 (a3 skipped) b3: a5 a4 b3. Page 2: a2 b2 a1. Page 3: b1.
	want := []string{"a5", "a4", "b3", "a2", "b2", "a1", "b1"}
	if !slices.Equal(got, want) {
		t.Fatalf("capped pages %v, want %v", got, want)
	}
}
