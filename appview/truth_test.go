package appview

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// This file computes what every AppView count and view must be straight
// from the hosts' repositories: each account's com.atproto.sync.getRepo
// CAR is fetched over HTTP, its commit signature checked, its MST walked
// over the CAR's blocks, and each record decoded with lexicon. Nothing here
// uses the index package: the expected views are built independently and
// compared, JSON value for JSON value, with what the XRPC reads answer.

// truthRecord is one record of a repository as getRepo holds it.
type truthRecord struct {
	uri, did, coll, rkey string
	cid                  cid.CID
	value                any             // *lexicon.FeedPost, *lexicon.FeedLike, ...
	json                 json.RawMessage // the record in data-model JSON
}

// truth is the hosts' state: every account's records (from its last
// readable getRepo), handle and status.
type truth struct {
	handles map[string]string
	records map[string]map[string]*truthRecord // did -> uri -> record
	hidden  map[string]bool                    // deactivated, taken down or deleted
}

func newTruth() *truth {
	return &truth{handles: map[string]string{}, records: map[string]map[string]*truthRecord{},
		hidden: map[string]bool{}}
}

// groundTruth fetches every account of the hosts.
func groundTruth(t *testing.T, hosts ...*host) *truth {
	t.Helper()
	tr := newTruth()
	for _, h := range hosts {
		tr.fetchHost(t, h)
	}
	return tr
}

// fetchHost refetches the repository of every active account of h; an
// account whose getRepo is refused keeps the records last fetched.
func (tr *truth) fetchHost(t *testing.T, h *host) {
	t.Helper()
	accts, err := h.pds.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		tr.handles[a.DID] = a.Handle
		if tr.hidden[a.DID] {
			continue
		}
		tr.records[a.DID] = fetchRepo(t, h, a.DID)
	}
}

// fetchRepo reads did's records from its getRepo CAR.
func fetchRepo(t *testing.T, h *host, did string) map[string]*truthRecord {
	t.Helper()
	resp, err := http.Get(h.url + "/xrpc/com.atproto.sync.getRepo?did=" + url.QueryEscape(did))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("getRepo %s: %d %v %s", did, resp.StatusCode, err, data)
	}
	roots, blocks, err := car.ReadBytes(data, car.Limits{})
	if err != nil || len(roots) != 1 {
		t.Fatalf("getRepo %s: CAR: %v (%d roots)", did, err, len(roots))
	}
	commit, err := repo.ParseCommit(blocks[roots[0]])
	if err != nil || commit.DID != did {
		t.Fatalf("getRepo %s: commit %+v: %v", did, commit, err)
	}
	id, err := h.resolver.Resolve(t.Context(), did)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := id.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := commit.VerifySignature(pub); err != nil {
		t.Fatalf("getRepo %s: %v", did, err)
	}
	out := map[string]*truthRecord{}
	err = mst.Load(blocks, commit.Data).Walk(func(path string, c cid.CID) error {
		coll, rkey, _ := strings.Cut(path, "/")
		switch coll {
		case lexicon.NSIDFeedPost, lexicon.NSIDFeedLike, lexicon.NSIDFeedRepost, lexicon.NSIDGraphFollow, lexicon.NSIDActorProfile:
		default:
			return nil
		}
		raw, ok := blocks[c]
		if !ok {
			return fmt.Errorf("record block %s of %s missing", c, path)
		}
		v, err := lexicon.DecodeRecord(coll, raw)
		if err != nil {
			return nil // invalid records are not indexed
		}
		r := &truthRecord{uri: "at://" + did + "/" + path, did: did, coll: coll, rkey: rkey, cid: c, value: v}
		var generic any
		if err := dagcbor.Unmarshal(raw, &generic); err != nil {
			return err
		}
		if r.json, err = dagcbor.ToJSON(generic); err != nil {
			return err
		}
		out[r.uri] = r
		return nil
	})
	if err != nil {
		t.Fatalf("getRepo %s: walk: %v", did, err)
	}
	return out
}

// model is the truth seen through visibility: the records of visible
// accounts, and the lists and counts derived from them.
type model struct {
	tr        *truth
	records   map[string]*truthRecord // visible accounts' records by URI
	likes     map[string][]string     // subject URI -> like URIs, sorted
	reposts   map[string][]string
	replies   map[string][]string // parent URI -> reply URIs, sorted
	quotes    map[string]int
	followers map[string][]string // subject DID -> follow URIs, sorted
	follows   map[string][]*truthRecord
	feed      map[string][]*truthRecord // did -> posts and reposts, newest rkey first
}

func (tr *truth) model() *model {
	m := &model{tr: tr, records: map[string]*truthRecord{}, likes: map[string][]string{}, reposts: map[string][]string{},
		replies: map[string][]string{}, quotes: map[string]int{}, followers: map[string][]string{},
		follows: map[string][]*truthRecord{}, feed: map[string][]*truthRecord{}}
	for did, recs := range tr.records {
		if tr.hidden[did] {
			continue
		}
		for u, r := range recs {
			m.records[u] = r
			switch v := r.value.(type) {
			case *lexicon.FeedPost:
				m.feed[did] = append(m.feed[did], r)
				if v.Reply != nil {
					m.replies[v.Reply.Parent.URI] = append(m.replies[v.Reply.Parent.URI], u)
				}
				if v.Embed != nil && v.Embed.Record != nil {
					m.quotes[v.Embed.Record.Record.URI]++
				} else if v.Embed != nil && v.Embed.RecordWithMedia != nil {
					m.quotes[v.Embed.RecordWithMedia.Record.Record.URI]++
				}
			case *lexicon.FeedLike:
				m.likes[v.Subject.URI] = append(m.likes[v.Subject.URI], u)
			case *lexicon.FeedRepost:
				m.feed[did] = append(m.feed[did], r)
				m.reposts[v.Subject.URI] = append(m.reposts[v.Subject.URI], u)
			case *lexicon.GraphFollow:
				m.followers[v.Subject] = append(m.followers[v.Subject], u)
				if !tr.hidden[v.Subject] {
					m.follows[did] = append(m.follows[did], r)
				}
			}
		}
	}
	for _, l := range []map[string][]string{m.likes, m.reposts, m.replies, m.followers} {
		for _, v := range l {
			slices.Sort(v)
		}
	}
	for _, l := range m.follows {
		slices.SortFunc(l, func(a, b *truthRecord) int { return strings.Compare(a.rkey, b.rkey) })
	}
	for _, l := range m.feed {
		slices.SortFunc(l, func(a, b *truthRecord) int { return -strings.Compare(a.rkey+"\x00"+a.coll, b.rkey+"\x00"+b.coll) })
	}
	return m
}

func authorOf(uri string) string { did, _, _ := splitAuthor(uri); return did }

func wantIndexedAt(createdAt string) string {
	if _, err := syntax.ParseDatetime(createdAt); err == nil {
		return createdAt
	}
	return "1970-01-01T00:00:00.000Z"
}

func (m *model) profile(did string) *lexicon.ActorProfile {
	if r := m.records["at://"+did+"/"+lexicon.NSIDActorProfile+"/self"]; r != nil {
		return r.value.(*lexicon.ActorProfile)
	}
	return nil
}

func (m *model) basic(did string) map[string]any {
	h := m.tr.handles[did]
	if h == "" {
		h = "handle.invalid"
	}
	out := map[string]any{"did": did, "handle": h}
	if p := m.profile(did); p != nil {
		if p.DisplayName != nil {
			out["displayName"] = *p.DisplayName
		}
		if p.CreatedAt != nil {
			out["createdAt"] = *p.CreatedAt
		}
	}
	return out
}

func (m *model) profileView(did string) map[string]any {
	out := m.basic(did)
	if p := m.profile(did); p != nil && p.Description != nil {
		out["description"] = *p.Description
	}
	return out
}

func (m *model) profileDetailed(did string) map[string]any {
	out := m.profileView(did)
	posts := 0
	for _, r := range m.feed[did] {
		if r.coll == lexicon.NSIDFeedPost {
			posts++
		}
	}
	out["followersCount"], out["followsCount"], out["postsCount"] = len(m.followers[did]), len(m.follows[did]), posts
	return out
}

// post returns the post view of uri, or nil if it is not a visible post.
func (m *model) post(uri string) map[string]any {
	r := m.records[uri]
	if r == nil || r.coll != lexicon.NSIDFeedPost {
		return nil
	}
	return map[string]any{"uri": uri, "cid": r.cid.String(), "author": m.basic(r.did), "record": r.json,
		"replyCount": len(m.replies[uri]), "repostCount": len(m.reposts[uri]), "likeCount": len(m.likes[uri]),
		"quoteCount": m.quotes[uri], "indexedAt": wantIndexedAt(r.value.(*lexicon.FeedPost).CreatedAt)}
}

func (m *model) postOrNotFound(uri string) map[string]any {
	if pv := m.post(uri); pv != nil {
		pv["$type"] = typePostView
		return pv
	}
	return map[string]any{"$type": typeNotFoundPost, "uri": uri, "notFound": true}
}

func (m *model) feedView(did string) []any {
	out := []any{}
	for _, r := range m.feed[did] {
		item := map[string]any{}
		postURI := r.uri
		if rp, ok := r.value.(*lexicon.FeedRepost); ok {
			item["reason"] = map[string]any{"$type": typeReasonRepost, "by": m.basic(did), "uri": r.uri,
				"cid": r.cid.String(), "indexedAt": wantIndexedAt(rp.CreatedAt)}
			postURI = rp.Subject.URI
		}
		pv := m.post(postURI)
		if pv == nil {
			continue
		}
		item["post"] = pv
		if p := m.records[postURI].value.(*lexicon.FeedPost); p.Reply != nil {
			item["reply"] = map[string]any{"root": m.postOrNotFound(p.Reply.Root.URI), "parent": m.postOrNotFound(p.Reply.Parent.URI)}
		}
		out = append(out, item)
	}
	return out
}

func (m *model) thread(uri string, depth, height int) map[string]any {
	root := m.post(uri)
	node := map[string]any{"$type": typeThreadViewPost, "post": root}
	if r := m.replyTree(uri, depth); r != nil {
		node["replies"] = r
	}
	child := node
	p := m.records[uri].value.(*lexicon.FeedPost)
	for range height {
		if p.Reply == nil {
			break
		}
		parent := p.Reply.Parent.URI
		pv := m.post(parent)
		if pv == nil {
			child["parent"] = map[string]any{"$type": typeNotFoundPost, "uri": parent, "notFound": true}
			break
		}
		up := map[string]any{"$type": typeThreadViewPost, "post": pv}
		child["parent"] = up
		child, p = up, m.records[parent].value.(*lexicon.FeedPost)
	}
	return node
}

func (m *model) replyTree(uri string, depth int) []any {
	if depth <= 0 {
		return nil
	}
	out := []any{}
	for _, u := range m.replies[uri] {
		n := map[string]any{"$type": typeThreadViewPost, "post": m.post(u)}
		if r := m.replyTree(u, depth-1); r != nil {
			n["replies"] = r
		}
		out = append(out, n)
	}
	return out
}

// normalize turns a value into what decoding its JSON gives.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := normalize(t, got), normalize(t, want)
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		t.Errorf("%s differs from the truth\n got: %.1500s\nwant: %.1500s", what, gb, wb)
	}
}

// pages fetches every page of a cursor-paginated list and returns the
// concatenated items of field and the first page's other fields.
func pages(t *testing.T, hd http.Handler, nsid string, q url.Values, field string) (map[string]any, []any) {
	t.Helper()
	var all []any
	var first map[string]any
	for {
		var out map[string]any
		xrpcGet(t, hd, nsid, q, 200, &out)
		if first == nil {
			first = out
		}
		items, _ := out[field].([]any)
		all = append(all, items...)
		c, _ := out["cursor"].(string)
		if c == "" {
			break
		}
		q.Set("cursor", c)
	}
	if all == nil {
		all = []any{}
	}
	return first, all
}

// checkAgainstTruth compares every count and every view the AppView serves
// with the truth: getProfile(s) of every account, getPosts of every post,
// every author feed page by page, the thread, likes and reposts of every
// post, and every account's followers and follows.
func checkAgainstTruth(t *testing.T, hd http.Handler, tr *truth) {
	t.Helper()
	m := tr.model()
	var posts []string
	for u, r := range m.records {
		if r.coll == lexicon.NSIDFeedPost {
			posts = append(posts, u)
		}
	}
	if len(posts) < 20 {
		t.Fatalf("only %d posts were written", len(posts))
	}
	slices.Sort(posts)
	var all []string // every post ever fetched, hidden authors' too
	for _, recs := range tr.records {
		for u, r := range recs {
			if r.coll == lexicon.NSIDFeedPost {
				all = append(all, u)
			}
		}
	}
	slices.Sort(all)
	checkGetPosts(t, hd, m, all)
	var dids []string
	for did := range tr.handles {
		dids = append(dids, did)
		checkActorViews(t, hd, m, did)
	}
	slices.Sort(dids)
	for i := 0; i < len(dids); i += 25 {
		batch := dids[i:min(len(dids), i+25)]
		var out struct{ Profiles []any }
		xrpcGet(t, hd, "app.bsky.actor.getProfiles", url.Values{"actors": batch}, 200, &out)
		want := []any{}
		for _, did := range batch {
			if !tr.hidden[did] {
				want = append(want, m.profileDetailed(did))
			}
		}
		sameJSON(t, fmt.Sprintf("getProfiles %d..", i), out.Profiles, want)
	}
	for _, u := range posts {
		checkPostViews(t, hd, m, u)
	}
}

// checkGetPosts asks for every post ever written, 25 at a time.
func checkGetPosts(t *testing.T, hd http.Handler, m *model, all []string) {
	t.Helper()
	for i := 0; i < len(all); i += 25 {
		batch := all[i:min(len(all), i+25)]
		var out struct{ Posts []any }
		xrpcGet(t, hd, "app.bsky.feed.getPosts", url.Values{"uris": batch}, 200, &out)
		want := []any{}
		for _, u := range batch {
			if pv := m.post(u); pv != nil {
				want = append(want, pv)
			}
		}
		sameJSON(t, fmt.Sprintf("getPosts %d..", i), out.Posts, want)
	}
}

// checkActorViews compares an account's profile, author feed, followers
// and follows; a hidden account has none.
func checkActorViews(t *testing.T, hd http.Handler, m *model, did string) {
	t.Helper()
	tr := m.tr
	if tr.hidden[did] {
		xrpcGet(t, hd, "app.bsky.actor.getProfile", url.Values{"actor": {did}}, 400, nil)
		xrpcGet(t, hd, "app.bsky.feed.getAuthorFeed", url.Values{"actor": {did}}, 400, nil)
		return
	}
	var p any
	xrpcGet(t, hd, "app.bsky.actor.getProfile", url.Values{"actor": {did}}, 200, &p)
	sameJSON(t, "getProfile "+did, p, m.profileDetailed(did))
	_, feed := pages(t, hd, "app.bsky.feed.getAuthorFeed", url.Values{"actor": {tr.handles[did]}, "limit": {"7"}}, "feed")
	sameJSON(t, "getAuthorFeed "+did, feed, m.feedView(did))
	subj, followers := pages(t, hd, "app.bsky.graph.getFollowers", url.Values{"actor": {did}, "limit": {"5"}}, "followers")
	want := []any{}
	for _, u := range m.followers[did] {
		want = append(want, m.profileView(authorOf(u)))
	}
	sameJSON(t, "getFollowers "+did, followers, want)
	sameJSON(t, "getFollowers subject "+did, subj["subject"], m.profileView(did))
	_, follows := pages(t, hd, "app.bsky.graph.getFollows", url.Values{"actor": {did}, "limit": {"5"}}, "follows")
	want = []any{}
	for _, r := range m.follows[did] {
		want = append(want, m.profileView(r.value.(*lexicon.GraphFollow).Subject))
	}
	sameJSON(t, "getFollows "+did, follows, want)
}

// checkPostViews compares a post's thread, likes and reposts.
func checkPostViews(t *testing.T, hd http.Handler, m *model, u string) {
	t.Helper()
	var th map[string]any
	xrpcGet(t, hd, "app.bsky.feed.getPostThread", url.Values{"uri": {u}}, 200, &th)
	sameJSON(t, "getPostThread "+u, th["thread"], m.thread(u, 6, 80))
	_, likes := pages(t, hd, "app.bsky.feed.getLikes", url.Values{"uri": {u}, "limit": {"3"}}, "likes")
	want := []any{}
	for _, l := range m.likes[u] {
		created := m.records[l].value.(*lexicon.FeedLike).CreatedAt
		want = append(want, map[string]any{"actor": m.profileView(authorOf(l)), "createdAt": created, "indexedAt": wantIndexedAt(created)})
	}
	sameJSON(t, "getLikes "+u, likes, want)
	_, by := pages(t, hd, "app.bsky.feed.getRepostedBy", url.Values{"uri": {u}, "limit": {"3"}}, "repostedBy")
	want = []any{}
	for _, r := range m.reposts[u] {
		want = append(want, m.profileView(authorOf(r)))
	}
	sameJSON(t, "getRepostedBy "+u, by, want)
}
