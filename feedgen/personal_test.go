package feedgen

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/repo/crypto"
)

// followingFeed shows each requester the posts of the authors they follow
// (its own state, as a real plugin would build it from the stream), and
// anonymous requesters nothing.
type followingFeed struct {
	follows map[string][]string
	seen    []plugin.Item // what the filters were shown, in order
}

func (*followingFeed) Name() string                       { return "following" }
func (*followingFeed) Match(*plugin.Post) plugin.Decision { return plugin.Keep }
func (f *followingFeed) ForRequester(requester string) func(plugin.Item) bool {
	follows := f.follows[requester]
	return func(it plugin.Item) bool {
		f.seen = append(f.seen, it)
		return slices.Contains(follows, it.Author)
	}
}

// TestPersonalizedFeed: the DID of a verified service-auth token reaches
// the feed's Personalizer, which decides per requester; pages stay
// tie-safe through the filter.
func TestPersonalizedFeed(t *testing.T) {
	t.Parallel()
	key, err := crypto.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	plc := &plcServer{keys: map[string]crypto.PublicKey{didK: key.Public()}, hits: map[string]int{}}
	plcSrv := httptest.NewServer(plc)
	t.Cleanup(plcSrv.Close)
	res, err := identity.NewResolver(identity.Config{PLCURL: plcSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := identity.NewCache(res, identity.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	feed := &followingFeed{follows: map[string][]string{didK: {"did:plc:a", "did:plc:c"}}}
	var reg plugin.Registry
	if err := reg.Register(feed); err != nil {
		t.Fatal(err)
	}
	db := memDB(t)
	g, err := New(Config{DB: db, Feeds: &reg, PublisherDID: testPublisher, ServiceDID: testService,
		Auth: &AuthConfig{Keys: cache}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	b := db.NewIndexedBatch()
	var want []string
	for i := range 40 {
		did := fmt.Sprintf("did:plc:%c", 'a'+i%4)
		uri := fmt.Sprintf("at://%s/app.bsky.feed.post/%03d", did, i)
		if err := index.Add(b, "following", did, uri, int64(i/8)); err != nil { // runs of equal times
			t.Fatal(err)
		}
		if did == "did:plc:a" || did == "did:plc:c" {
			want = append(want, uri)
		}
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(x, y string) int { // newest first: time, then URI
		ix, iy := uriIndex(x)/8, uriIndex(y)/8
		if ix != iy {
			return iy - ix
		}
		return -strings.Compare(x, y)
	})

	tok := mint(t, key, map[string]any{"alg": "ES256K", "typ": "JWT"}, map[string]any{
		"iss": didK, "aud": testService, "exp": time.Now().Unix() + 60, "lxm": methodGetFeedSkeleton})
	fetch := func(auth string, limit int) []string {
		var out []string
		cursor := ""
		for {
			q := url.Values{"feed": {g.FeedURI("following")}, "limit": {fmt.Sprint(limit)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			req, _ := http.NewRequest("GET", srv.URL+"/xrpc/app.bsky.feed.getFeedSkeleton?"+q.Encode(), nil)
			if auth != "" {
				req.Header.Set("Authorization", "Bearer "+auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body skeletonOut
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d: %v", resp.StatusCode, err)
			}
			for _, it := range body.Feed {
				out = append(out, it.Post)
			}
			if body.Cursor == "" {
				return out
			}
			cursor = body.Cursor
		}
	}
	for _, limit := range []int{1, 3, 50} {
		if got := fetch(tok, limit); !slices.Equal(got, want) {
			t.Fatalf("limit %d: requester's feed %v, want %v", limit, got, want)
		}
	}
	if got := fetch("", 10); len(got) != 0 {
		t.Fatalf("anonymous requester got %v", got)
	}
	if len(feed.seen) == 0 || feed.seen[0].Author != "did:plc:d" || !feed.seen[0].IndexedAt.Equal(time.UnixMicro(4)) {
		t.Fatalf("filter saw %+v first, want the newest item by did:plc:d at 4µs", feed.seen[:1])
	}
}

func uriIndex(uri string) int {
	var n int
	_, _ = fmt.Sscanf(uri[len(uri)-3:], "%d", &n)
	return n
}
