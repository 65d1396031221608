package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// apiFeeds are the feed generator's feeds in the API test.
const apiFeeds = `{"feeds": [
  {"name": "toplevel", "rule": {"not": {"reply": true}}},
  {"name": "media", "rule": {"hasMedia": true}}
]}`

// seedPost is a post the test wrote.
type seedPost struct {
	uri, cid, author, text string
	root, parent           string // reply refs ("" for a top-level post)
	images, video          bool   // what its embed carries
	order                  int    // creation order across every record
}

// feedEntry is one author-feed item: a post, or a repost of one by the actor.
type feedEntry struct {
	post   string
	repost bool
	order  int
}

// seed is the content written through the host, and what follows from it.
type seed struct {
	did, handle map[string]string // name -> DID, handle
	posts       []*seedPost       // live posts, in creation order
	deleted     string            // a post created and deleted
	likes       map[string][]string
	reposts     map[string][]string
	repostOrder map[string]int // "reposter post" -> order
	follows     map[string][]string
	profiles    map[string][2]string // DID -> displayName, description
	order       int
	base        time.Time
}

func (s *seed) post(uri string) *seedPost {
	for _, p := range s.posts {
		if p.uri == uri {
			return p
		}
	}
	return nil
}

// write creates one record and returns its URI and CID.
func (s *seed) write(t *testing.T, h *host, did, coll, rkey string, value map[string]any) (string, string) {
	t.Helper()
	s.order++
	value["createdAt"] = s.base.Add(time.Duration(s.order) * time.Second).Format("2006-01-02T15:04:05.000Z")
	res, err := h.pds.ApplyWrites(t.Context(), did, []pds.Write{{Action: repo.Create, Collection: coll, RKey: rkey, Value: value, Validate: pds.ValidateOn}}, cid.Undef)
	if err != nil {
		t.Fatalf("create %s for %s: %v", coll, did, err)
	}
	return res.Results[0].URI, res.Results[0].CID.String()
}

func (s *seed) addPost(t *testing.T, h *host, name, text string, reply *seedPost, media map[string]any) *seedPost {
	t.Helper()
	rec := map[string]any{"$type": "app.bsky.feed.post", "text": text, "langs": []any{"en"}}
	p := &seedPost{author: s.did[name], text: text}
	if media != nil {
		p.images, p.video = media["$type"] == "app.bsky.embed.images", media["$type"] == "app.bsky.embed.video"
	}
	if reply != nil {
		root := reply
		if reply.root != "" {
			root = s.post(reply.root)
		}
		rec["reply"] = map[string]any{
			"root":   map[string]any{"uri": root.uri, "cid": root.cid},
			"parent": map[string]any{"uri": reply.uri, "cid": reply.cid},
		}
		p.root, p.parent = root.uri, reply.uri
	}
	if media != nil {
		rec["embed"] = media
	}
	p.uri, p.cid = s.write(t, h, p.author, "app.bsky.feed.post", "", rec)
	p.order = s.order
	s.posts = append(s.posts, p)
	return p
}

func (s *seed) like(t *testing.T, h *host, name string, p *seedPost) {
	t.Helper()
	s.write(t, h, s.did[name], "app.bsky.feed.like", "", map[string]any{"subject": map[string]any{"uri": p.uri, "cid": p.cid}})
	s.likes[p.uri] = append(s.likes[p.uri], s.did[name])
}

func (s *seed) repost(t *testing.T, h *host, name string, p *seedPost) {
	t.Helper()
	s.write(t, h, s.did[name], "app.bsky.feed.repost", "", map[string]any{"subject": map[string]any{"uri": p.uri, "cid": p.cid}})
	s.reposts[p.uri] = append(s.reposts[p.uri], s.did[name])
	s.repostOrder[s.did[name]+" "+p.uri] = s.order
}

func (s *seed) follow(t *testing.T, h *host, from, to string) {
	t.Helper()
	s.write(t, h, s.did[from], "app.bsky.graph.follow", "", map[string]any{"subject": s.did[to]})
	s.follows[s.did[from]] = append(s.follows[s.did[from]], s.did[to])
}

// seedContent writes a small social graph with known shape: profiles, a
// long author feed (for paging), an image post, replies (one a self
// thread), likes, reposts, follows and a deleted post.
func seedContent(t *testing.T, h *host) *seed {
	t.Helper()
	s := &seed{did: map[string]string{}, handle: map[string]string{}, likes: map[string][]string{},
		reposts: map[string][]string{}, repostOrder: map[string]int{}, follows: map[string][]string{},
		profiles: map[string][2]string{}, base: time.Now().UTC().Add(-time.Hour).Truncate(time.Second)}
	for _, name := range []string{"alice", "bob", "carol"} {
		a, err := h.pds.CreateAccount(t.Context(), pds.CreateAccountInput{Handle: name + "." + h.domain})
		if err != nil {
			t.Fatal(err)
		}
		s.did[name], s.handle[name] = a.DID, a.Handle
		display, desc := strings.ToUpper(name[:1])+name[1:]+" Interop", "the "+name+" of the interop test"
		s.write(t, h, a.DID, "app.bsky.actor.profile", "self", map[string]any{"displayName": display, "description": desc})
		s.profiles[a.DID] = [2]string{display, desc}
	}
	blob := uploadBlob(t, h, s.did["alice"], "image/png", pngBytes(t))
	var alice []*seedPost
	for i := range 23 {
		var media map[string]any
		if i == 5 {
			media = map[string]any{"$type": "app.bsky.embed.images", "images": []any{
				map[string]any{"image": blob, "alt": "a small square", "aspectRatio": map[string]any{"width": int64(2), "height": int64(2)}},
			}}
		}
		alice = append(alice, s.addPost(t, h, "alice", fmt.Sprintf("alice post %02d", i), nil, media))
	}
	bobReply := s.addPost(t, h, "bob", "bob replies to alice", alice[0], nil)
	s.addPost(t, h, "bob", "bob says hi", nil, nil)
	// Not a playable video: hosts and AppViews store blobs, they do not decode them.
	mp4 := append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), make([]byte, 64)...)
	s.addPost(t, h, "bob", "bob films something", nil, map[string]any{"$type": "app.bsky.embed.video",
		"video": uploadBlob(t, h, s.did["bob"], "video/mp4", mp4), "alt": "a short clip"})
	c1 := s.addPost(t, h, "carol", "carol starts a thread", nil, nil)
	s.addPost(t, h, "carol", "carol continues her thread", c1, nil)

	gone := s.addPost(t, h, "alice", "alice posts something she regrets", nil, nil)
	s.posts = s.posts[:len(s.posts)-1]
	s.deleted = gone.uri
	rkey := gone.uri[strings.LastIndex(gone.uri, "/")+1:]
	if _, err := h.pds.ApplyWrites(t.Context(), s.did["alice"], []pds.Write{{Action: repo.Delete, Collection: "app.bsky.feed.post", RKey: rkey}}, cid.Undef); err != nil {
		t.Fatal(err)
	}

	s.like(t, h, "bob", alice[0])
	s.like(t, h, "carol", alice[0])
	s.like(t, h, "alice", bobReply)
	s.repost(t, h, "carol", alice[0])
	s.repost(t, h, "bob", alice[5])
	s.follow(t, h, "alice", "bob")
	s.follow(t, h, "bob", "alice")
	s.follow(t, h, "carol", "alice")
	s.follow(t, h, "carol", "bob")
	return s
}

// pngBytes is a 2x2 PNG.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{200, 30, 30, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// uploadBlob uploads data for did and returns its blob reference.
func uploadBlob(t *testing.T, h *host, did, mime string, data []byte) map[string]any {
	t.Helper()
	b, err := h.pds.UploadBlob(t.Context(), did, mime, data)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"$type": "blob", "ref": b.CID, "mimeType": b.MimeType, "size": b.Size}
}

// authorFeed is what getAuthorFeed with filter should return for name, in
// order (newest first), by the reference AppView's rules: posts_no_replies
// keeps reposts; posts_with_media keeps the actor's own posts with images,
// posts_with_video those with a video; posts_and_author_threads keeps
// reposts, top-level posts and replies in the actor's own threads.
func (s *seed) authorFeed(name, filter string) []feedEntry {
	did := s.did[name]
	var out []feedEntry
	for _, p := range s.posts {
		if p.author != did {
			continue
		}
		keep := true
		switch filter {
		case "posts_no_replies":
			keep = p.parent == ""
		case "posts_with_media":
			keep = p.images
		case "posts_with_video":
			keep = p.video
		case "posts_and_author_threads":
			keep = p.parent == "" || (strings.HasPrefix(p.root, "at://"+did+"/") && strings.HasPrefix(p.parent, "at://"+did+"/"))
		}
		if keep {
			out = append(out, feedEntry{post: p.uri, order: p.order})
		}
	}
	if filter != "posts_with_media" && filter != "posts_with_video" {
		for key, order := range s.repostOrder {
			by, post, _ := strings.Cut(key, " ")
			if by == did {
				out = append(out, feedEntry{post: post, repost: true, order: order})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order > out[j].order })
	return out
}

// apiCall is one call for api-client.mjs.
type apiCall struct {
	ID       string         `json:"id"`
	Service  string         `json:"service"`
	NSID     string         `json:"nsid"`
	Params   map[string]any `json:"params"`
	Paginate bool           `json:"paginate,omitempty"`
}

// apiResult is one line of api-client.mjs.
type apiResult struct {
	ID    string            `json:"id"`
	Pages []json.RawMessage `json:"pages"`
	Error *struct {
		Name    string `json:"name"`
		Message string `json:"message"`
		Status  int    `json:"status"`
		Error   string `json:"error"`
	} `json:"error"`
	Failed *int `json:"failed"`
}

// Views as the test reads them (only the fields it checks).
type (
	apiProfile struct {
		DID            string `json:"did"`
		Handle         string `json:"handle"`
		DisplayName    string `json:"displayName"`
		Description    string `json:"description"`
		FollowersCount *int   `json:"followersCount"`
		FollowsCount   *int   `json:"followsCount"`
		PostsCount     *int   `json:"postsCount"`
	}
	apiPost struct {
		URI    string     `json:"uri"`
		CID    string     `json:"cid"`
		Author apiProfile `json:"author"`
		Record struct {
			Text string `json:"text"`
		} `json:"record"`
		ReplyCount  *int `json:"replyCount"`
		RepostCount *int `json:"repostCount"`
		LikeCount   *int `json:"likeCount"`
	}
	apiFeedPage struct {
		Feed []struct {
			Post   apiPost `json:"post"`
			Reason *struct {
				Type string     `json:"$type"`
				By   apiProfile `json:"by"`
			} `json:"reason"`
		} `json:"feed"`
	}
	apiThread struct {
		Post    apiPost      `json:"post"`
		Parent  *apiThread   `json:"parent"`
		Replies []*apiThread `json:"replies"`
	}
)

// TestAPIClient: the reference client reads what a host wrote, through the
// relay, from the AppView and the feed generator, and sees exactly that
// content in responses that validate against the published lexicons.
func TestAPIClient(t *testing.T) {
	nodeBinary(t)
	t.Parallel()
	plcURL := startPLC(t)
	h := startHost(t, plcURL, "api.test")
	r, relayURL, _ := startRelay(t, plcURL, h)
	avURL, avCursor := startAppview(t, relayURL, plcURL)
	fgURL, fgCursors := startFeedgen(t, relayURL, apiFeeds)

	s := seedContent(t, h)
	waitRelayCaughtUp(t, r, h)
	head := r.Head()
	waitFor(t, "the appview and the feeds to index the relay", func() bool {
		return avCursor() >= head && slices.Min(fgCursors()) >= head
	})

	cs := s.apiCalls()
	// The client's response validation is on: a body that breaks the
	// lexicon (a feed item whose post is not an AT-URI) is refused.
	bogus := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"feed": [{"post": "not an at-uri"}]}`))
	}))
	defer bogus.Close()
	cs.add(apiCall{ID: "invalid response", Service: "bogus", NSID: "app.bsky.feed.getFeedSkeleton", Params: map[string]any{"feed": "at://" + feedPublisher + "/app.bsky.feed.generator/toplevel"}},
		apiCheck{wantError: "Invalid Response"})
	calls, checks := cs.calls, cs.checks
	in, err := json.Marshal(map[string]any{"services": map[string]string{"appview": avURL, "feedgen": fgURL, "bogus": bogus.URL}, "calls": calls})
	if err != nil {
		t.Fatal(err)
	}
	p := startNode(t, "api-client.mjs")
	p.input(in)
	results := map[string]apiResult{}
	for _, line := range p.wait() {
		var res apiResult
		if err := json.Unmarshal(line, &res); err != nil {
			t.Fatalf("bad line %s: %v", line, err)
		}
		results[res.ID] = res
	}
	if _, ok := results["done"]; !ok {
		t.Fatalf("api-client did not finish; stderr:\n%s", tail(p.stderrText(), 4000))
	}
	for _, c := range calls {
		res, ok := results[c.ID]
		switch {
		case !ok:
			t.Errorf("%s: no result", c.ID)
		case res.Error != nil && checks[c.ID].wantError == "":
			t.Errorf("%s %s %v: %s: %s (status %d, error %q)", c.ID, c.NSID, c.Params, res.Error.Name, res.Error.Message, res.Error.Status, res.Error.Error)
		case checks[c.ID].wantError != "":
			if res.Error == nil || res.Error.Error != checks[c.ID].wantError {
				t.Errorf("%s: want the XRPC error %s, got %+v", c.ID, checks[c.ID].wantError, res.Error)
			}
		default:
			checks[c.ID].check(t, res.Pages)
		}
	}
}

// apiCheck checks the pages of one call, or that it failed with wantError.
type apiCheck struct {
	check     func(t *testing.T, pages []json.RawMessage)
	wantError string
}

// decodePages decodes every page of a call into a new T.
func decodePages[T any](t *testing.T, id string, pages []json.RawMessage) []T {
	t.Helper()
	out := make([]T, len(pages))
	for i, p := range pages {
		if err := json.Unmarshal(p, &out[i]); err != nil {
			t.Fatalf("%s page %d: %v", id, i, err)
		}
	}
	return out
}

// seedNames are the accounts seedContent creates.
var seedNames = []string{"alice", "bob", "carol"}

// callSet collects the calls for api-client.mjs with the check of each.
type callSet struct {
	calls  []apiCall
	checks map[string]apiCheck
}

func (cs *callSet) add(c apiCall, chk apiCheck) {
	cs.calls = append(cs.calls, c)
	cs.checks[c.ID] = chk
}

// apiCalls is every call the reference client makes, with its check.
func (s *seed) apiCalls() *callSet {
	cs := &callSet{checks: map[string]apiCheck{}}
	s.profileCalls(cs)
	s.authorFeedCalls(cs)
	s.postCalls(cs)
	s.listCalls(cs)
	s.feedgenCalls(cs)
	return cs
}

// checkProfile compares a profile view with what the test wrote for name.
func (s *seed) checkProfile(t *testing.T, id string, got apiProfile, name string) {
	t.Helper()
	did := s.did[name]
	posts := 0
	for _, p := range s.posts {
		if p.author == did {
			posts++
		}
	}
	followers := 0
	for _, fs := range s.follows {
		if slices.Contains(fs, did) {
			followers++
		}
	}
	want := fmt.Sprintf("%s %s %q %q followers=%d follows=%d posts=%d", did, s.handle[name], s.profiles[did][0], s.profiles[did][1], followers, len(s.follows[did]), posts)
	gotS := fmt.Sprintf("%s %s %q %q followers=%s follows=%s posts=%s", got.DID, got.Handle, got.DisplayName, got.Description, intOrNil(got.FollowersCount), intOrNil(got.FollowsCount), intOrNil(got.PostsCount))
	if gotS != want {
		t.Errorf("%s: profile\n got %s\nwant %s", id, gotS, want)
	}
}

// profileCalls: getProfile (by DID and by handle) and getProfiles.
func (s *seed) profileCalls(cs *callSet) {
	for _, name := range seedNames {
		id := "getProfile " + name
		cs.add(apiCall{ID: id, Service: "appview", NSID: "app.bsky.actor.getProfile", Params: map[string]any{"actor": s.did[name]}},
			apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
				s.checkProfile(t, id, decodePages[apiProfile](t, id, pages)[0], name)
			}})
	}
	cs.add(apiCall{ID: "getProfile by handle", Service: "appview", NSID: "app.bsky.actor.getProfile", Params: map[string]any{"actor": s.handle["bob"]}},
		apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
			s.checkProfile(t, "getProfile by handle", decodePages[apiProfile](t, "", pages)[0], "bob")
		}})
	cs.add(apiCall{ID: "getProfiles", Service: "appview", NSID: "app.bsky.actor.getProfiles", Params: map[string]any{"actors": []string{s.did["alice"], s.did["bob"], s.did["carol"]}}},
		apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
			got := decodePages[struct{ Profiles []apiProfile }](t, "getProfiles", pages)[0].Profiles
			if len(got) != 3 {
				t.Fatalf("getProfiles: %d profiles, want 3", len(got))
			}
			for i, name := range seedNames {
				s.checkProfile(t, "getProfiles", got[i], name)
			}
		}})

}

// authorFeedCalls: getAuthorFeed of every account with every filter, paged.
func (s *seed) authorFeedCalls(cs *callSet) {
	for _, name := range seedNames {
		for _, filter := range []string{"posts_with_replies", "posts_no_replies", "posts_with_media", "posts_and_author_threads", "posts_with_video"} {
			id := "getAuthorFeed " + name + " " + filter
			cs.add(apiCall{ID: id, Service: "appview", NSID: "app.bsky.feed.getAuthorFeed", Params: map[string]any{"actor": s.did[name], "filter": filter, "limit": 7}, Paginate: true},
				apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
					var got []string
					for _, pg := range decodePages[apiFeedPage](t, id, pages) {
						for _, it := range pg.Feed {
							e := it.Post.URI
							if it.Reason != nil {
								e = "repost by " + it.Reason.By.DID + " of " + e
							}
							got = append(got, e)
						}
					}
					var want []string
					for _, e := range s.authorFeed(name, filter) {
						w := e.post
						if e.repost {
							w = "repost by " + s.did[name] + " of " + w
						}
						want = append(want, w)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s:\n got %q\nwant %q", id, got, want)
					}
				}})
		}
	}

}

// postCalls: getPosts with counts, and getPostThread.
func (s *seed) postCalls(cs *callSet) {
	// Posts with their counts.
	var uris []string
	for _, p := range s.posts[20:] {
		uris = append(uris, p.uri)
	}
	uris = append(uris, s.posts[0].uri, s.posts[5].uri, s.deleted)
	cs.add(apiCall{ID: "getPosts", Service: "appview", NSID: "app.bsky.feed.getPosts", Params: map[string]any{"uris": uris}},
		apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
			got := decodePages[struct{ Posts []apiPost }](t, "getPosts", pages)[0].Posts
			var gotS, wantS []string
			for _, p := range got {
				gotS = append(gotS, fmt.Sprintf("%s %s %s %q replies=%s reposts=%s likes=%s", p.URI, p.CID, p.Author.DID, p.Record.Text, intOrNil(p.ReplyCount), intOrNil(p.RepostCount), intOrNil(p.LikeCount)))
			}
			for _, u := range uris {
				p := s.post(u)
				if p == nil {
					continue // the deleted post is left out
				}
				replies := 0
				for _, q := range s.posts {
					if q.parent == u {
						replies++
					}
				}
				wantS = append(wantS, fmt.Sprintf("%s %s %s %q replies=%d reposts=%d likes=%d", p.uri, p.cid, p.author, p.text, replies, len(s.reposts[u]), len(s.likes[u])))
			}
			if !slices.Equal(gotS, wantS) {
				t.Errorf("getPosts:\n got %q\nwant %q", gotS, wantS)
			}
		}})

	// Threads: a post with a reply, and a reply with its parent.
	a0, bobReply := s.posts[0], s.postBy("bob replies to alice")
	cs.add(apiCall{ID: "getPostThread root", Service: "appview", NSID: "app.bsky.feed.getPostThread", Params: map[string]any{"uri": a0.uri}},
		apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
			th := decodePages[struct{ Thread apiThread }](t, "", pages)[0].Thread
			if th.Post.URI != a0.uri || len(th.Replies) != 1 || th.Replies[0].Post.URI != bobReply.uri {
				t.Errorf("getPostThread %s: post %s with %d replies, want one reply %s", a0.uri, th.Post.URI, len(th.Replies), bobReply.uri)
			}
		}})
	c2 := s.postBy("carol continues her thread")
	cs.add(apiCall{ID: "getPostThread reply", Service: "appview", NSID: "app.bsky.feed.getPostThread", Params: map[string]any{"uri": c2.uri}},
		apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
			th := decodePages[struct{ Thread apiThread }](t, "", pages)[0].Thread
			if th.Post.URI != c2.uri || th.Parent == nil || th.Parent.Post.URI != c2.parent {
				t.Errorf("getPostThread %s: want parent %s, got %+v", c2.uri, c2.parent, th.Parent)
			}
		}})
	cs.add(apiCall{ID: "getPostThread deleted", Service: "appview", NSID: "app.bsky.feed.getPostThread", Params: map[string]any{"uri": s.deleted}},
		apiCheck{wantError: "NotFound"})

}

// listCalls: getLikes, getRepostedBy, getFollowers, getFollows, one item
// per page so that every cursor is followed.
func (s *seed) listCalls(cs *callSet) {
	actors := func(t *testing.T, field, id string, pages []json.RawMessage) []string {
		var out []string
		for _, pg := range decodePages[map[string]json.RawMessage](t, id, pages) {
			var items []struct {
				Actor apiProfile `json:"actor"`
				DID   string     `json:"did"`
			}
			if err := json.Unmarshal(pg[field], &items); err != nil {
				t.Fatalf("%s: %s: %v", id, field, err)
			}
			for _, it := range items {
				if it.Actor.DID != "" {
					out = append(out, it.Actor.DID)
				} else {
					out = append(out, it.DID)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	listCheck := func(id, field string, want []string) apiCheck {
		return apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
			if got := actors(t, field, id, pages); !slices.Equal(got, sortedCopy(want)) {
				t.Errorf("%s: %s %q, want %q", id, field, got, sortedCopy(want))
			}
		}}
	}
	a0 := s.posts[0]
	cs.add(apiCall{ID: "getLikes", Service: "appview", NSID: "app.bsky.feed.getLikes", Params: map[string]any{"uri": a0.uri, "limit": 1}, Paginate: true},
		listCheck("getLikes", "likes", s.likes[a0.uri]))
	cs.add(apiCall{ID: "getRepostedBy", Service: "appview", NSID: "app.bsky.feed.getRepostedBy", Params: map[string]any{"uri": s.posts[5].uri}, Paginate: true},
		listCheck("getRepostedBy", "repostedBy", s.reposts[s.posts[5].uri]))
	var aliceFollowers []string
	for from, tos := range s.follows {
		if slices.Contains(tos, s.did["alice"]) {
			aliceFollowers = append(aliceFollowers, from)
		}
	}
	cs.add(apiCall{ID: "getFollowers", Service: "appview", NSID: "app.bsky.graph.getFollowers", Params: map[string]any{"actor": s.did["alice"], "limit": 1}, Paginate: true},
		listCheck("getFollowers", "followers", aliceFollowers))
	cs.add(apiCall{ID: "getFollows", Service: "appview", NSID: "app.bsky.graph.getFollows", Params: map[string]any{"actor": s.did["carol"], "limit": 1}, Paginate: true},
		listCheck("getFollows", "follows", s.follows[s.did["carol"]]))

}

// feedgenCalls: every page of each feed, describeFeedGenerator, an unknown feed.
func (s *seed) feedgenCalls(cs *callSet) {
	feedURI := func(name string) string { return "at://" + feedPublisher + "/app.bsky.feed.generator/" + name }
	for _, feed := range []string{"toplevel", "media"} {
		id := "getFeedSkeleton " + feed
		var want []string
		for _, p := range s.posts {
			if (feed == "toplevel" && p.parent == "") || (feed == "media" && (p.images || p.video)) {
				want = append(want, p.uri)
			}
		}
		cs.add(apiCall{ID: id, Service: "feedgen", NSID: "app.bsky.feed.getFeedSkeleton", Params: map[string]any{"feed": feedURI(feed), "limit": 4}, Paginate: true},
			apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
				var got []string
				for _, pg := range decodePages[struct{ Feed []struct{ Post string } }](t, id, pages) {
					for _, it := range pg.Feed {
						got = append(got, it.Post)
					}
				}
				// The feed is ordered by the time the relay stamped each
				// event, which interleaves authors freely but keeps one
				// author's posts newest first.
				if !slices.Equal(sortedCopy(got), sortedCopy(want)) {
					t.Errorf("%s (%d pages):\n got %q\nwant %q in any order", id, len(pages), got, want)
				}
				if !newestFirstPerAuthor(got, s) {
					t.Errorf("%s: one author's posts are not newest first: %q", id, got)
				}
			}})
	}
	cs.add(apiCall{ID: "describeFeedGenerator", Service: "feedgen", NSID: "app.bsky.feed.describeFeedGenerator", Params: map[string]any{}},
		apiCheck{check: func(t *testing.T, pages []json.RawMessage) {
			d := decodePages[struct {
				DID   string
				Feeds []struct{ URI string }
			}](t, "describeFeedGenerator", pages)[0]
			var got []string
			for _, f := range d.Feeds {
				got = append(got, f.URI)
			}
			slices.Sort(got)
			if want := []string{feedURI("media"), feedURI("toplevel")}; d.DID != feedPublisher || !slices.Equal(got, want) {
				t.Errorf("describeFeedGenerator: did %s feeds %q, want %s %q", d.DID, got, feedPublisher, want)
			}
		}})
	cs.add(apiCall{ID: "getFeedSkeleton unknown", Service: "feedgen", NSID: "app.bsky.feed.getFeedSkeleton", Params: map[string]any{"feed": feedURI("nope")}},
		apiCheck{wantError: "UnknownFeed"})
}

// newestFirstPerAuthor reports whether each author's posts in uris come in
// reverse creation order.
func newestFirstPerAuthor(uris []string, s *seed) bool {
	last := map[string]int{}
	for _, u := range uris {
		p := s.post(u)
		if p == nil {
			return false
		}
		if o, ok := last[p.author]; ok && p.order >= o {
			return false
		}
		last[p.author] = p.order
	}
	return true
}

func (s *seed) postBy(text string) *seedPost {
	for _, p := range s.posts {
		if p.text == text {
			return p
		}
	}
	panic("no post " + text)
}

func sortedCopy(xs []string) []string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs
}

func intOrNil(p *int) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprint(*p)
}
