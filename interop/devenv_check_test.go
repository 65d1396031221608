package interop

// The checks of TestDevenvReferencePDSIntoRelay: stream equality, the
// relay's answers to the PDS, and the indexes against the PDS's own repos.

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/mst"
)

// converge waits until the PDS stream shows every action, the relay has
// re-emitted the PDS's events for every account, and the appview and the
// feed have consumed the relay's head.
func (rig *devenvRig) converge(t *testing.T, actions []devenvLine) {
	t.Helper()
	deadline := time.Now().Add(devenvWait)
	progress, last := "", time.Now()
	for {
		why := rig.pending(actions)
		if why == "" {
			return
		}
		// In strict mode a dropped event never arrives: say so at once
		// instead of waiting out the deadline.
		if drops, _ := rig.relay.Counts(); len(drops) > 0 {
			t.Fatalf("relay dropped events %v; still missing: %s", drops, why)
		}
		if now := rig.progress(); now != progress {
			progress, last = now, time.Now()
		}
		if time.Since(last) > devenvStall || time.Now().After(deadline) {
			t.Fatalf("not converged (no progress for %s): %s", time.Since(last).Round(time.Second), why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// devenvStall is how long converge waits with nothing moving anywhere.
const devenvStall = time.Minute

// progress is a fingerprint of every stream position.
func (rig *devenvRig) progress() string {
	return fmt.Sprint(len(rig.pdsObs.snapshot()), rig.relay.Head(), rig.relObs.cons.Cursor(), rig.av.Cursor(), rig.feed.Cursor())
}

// pending says what is still missing, or "" when everything has arrived.
func (rig *devenvRig) pending(actions []devenvLine) string {
	pds := rig.pdsObs.snapshot()
	if missing := devenvUncovered(pds, actions); len(missing) > 0 {
		return fmt.Sprintf("the PDS stream lacks %d actions, first %s", len(missing), missing[0])
	}
	want, got := devenvByDID(pds), devenvByDID(rig.relObs.snapshot())
	for did, evs := range want {
		if n := len(got[did]); n < len(evs) {
			return fmt.Sprintf("relay re-emitted %d of %d events of %s", n, len(evs), did)
		}
	}
	head := rig.relay.Head()
	if c := rig.relObs.cons.Cursor(); c < head {
		return fmt.Sprintf("relay observer at %d, head %d", c, head)
	}
	if c := rig.av.Cursor(); c < head {
		return fmt.Sprintf("appview at %d, relay head %d", c, head)
	}
	if c := rig.feed.Cursor(); c < head {
		return fmt.Sprintf("feed at %d, relay head %d", c, head)
	}
	return ""
}

// devenvUncovered lists the actions no PDS event shows.
func devenvUncovered(evs []devenvEvent, actions []devenvLine) []string {
	seen := map[string]bool{}
	for _, e := range evs {
		switch e.Type {
		case firehose.TypeCommit:
			for _, op := range e.Ops {
				seen[fmt.Sprintf("op %s %s %s", e.DID, op.Path, op.CID)] = true
			}
		case firehose.TypeIdentity:
			seen["identity "+e.DID+" "+e.Handle] = true
		case firehose.TypeAccount:
			seen[fmt.Sprintf("account %s %t %s", e.DID, e.Active, e.Status)] = true
		}
	}
	var missing []string
	for _, a := range actions {
		var want []string
		switch a.Action {
		case "createAccount":
			want = []string{"identity " + a.DID + " " + a.Handle, "account " + a.DID + " true "}
		case "updateHandle":
			want = []string{"identity " + a.DID + " " + a.Handle}
		case "deactivate":
			want = []string{"account " + a.DID + " false deactivated"}
		case "activate":
			want = []string{"account " + a.DID + " true "}
		case "deletePost", "deleteLike", "deleteRepost", "deleteFollow":
			want = []string{fmt.Sprintf("op %s %s %s", a.DID, devenvPath(a.URI), cid.CID{})}
		default:
			want = []string{fmt.Sprintf("op %s %s %s", a.DID, devenvPath(a.URI), a.CID)}
		}
		for _, w := range want {
			if !seen[w] {
				missing = append(missing, fmt.Sprintf("%s (%s)", a.Action, w))
			}
		}
	}
	return missing
}

// devenvPath is the repo path (collection/rkey) of an at:// URI.
func devenvPath(uri string) string {
	parts := strings.SplitN(strings.TrimPrefix(uri, "at://"), "/", 2)
	if len(parts) < 2 {
		return uri
	}
	return parts[1]
}

// checkStreams: the relay re-emitted every PDS event, per account in the
// PDS's order with every field unchanged, seqs strictly increasing on both
// streams, and nothing dropped anywhere.
func (rig *devenvRig) checkStreams(t *testing.T, actions []devenvLine) {
	t.Helper()
	pds, rel := rig.pdsObs.snapshot(), rig.relObs.snapshot()
	for _, o := range []*devenvObserver{rig.pdsObs, rig.relObs} {
		o.mu.Lock()
		if len(o.mu.disorder) > 0 {
			t.Errorf("%s stream: seq not strictly increasing: %v", o.name, o.mu.disorder)
		}
		o.mu.Unlock()
		if st := o.cons.Stats(); len(st.Drops) > 0 || len(st.Skipped) > 0 {
			t.Errorf("%s stream: consumer dropped %v, skipped %v", o.name, st.Drops, st.Skipped)
		}
	}
	if len(rel) != len(pds) {
		t.Errorf("relay emitted %d events, the PDS %d", len(rel), len(pds))
	}
	want, got := devenvByDID(pds), devenvByDID(rel)
	for _, did := range slices.Sorted(maps.Keys(want)) {
		if !slices.Equal(want[did], got[did]) {
			t.Errorf("events of %s:\n PDS   %q\n relay %q", did, want[did], got[did])
		}
	}
	for did := range got {
		if _, ok := want[did]; !ok {
			t.Errorf("relay emitted events of %s, which the PDS never did", did)
		}
	}
	types := map[string][2]int{}
	for _, e := range pds {
		c := types[e.Type]
		c[0]++
		types[e.Type] = c
	}
	for _, e := range rel {
		c := types[e.Type]
		c[1]++
		types[e.Type] = c
	}
	t.Logf("events by type (PDS, relay): %v", types)

	drops, warnings := rig.relay.Counts()
	if len(drops) > 0 || len(warnings) > 0 {
		t.Errorf("relay drops %v, warnings %v; want none in strict mode", drops, warnings)
	}
	if n := devenvMetricSum(t, rig, "conflux_relay_drops_total"); n != 0 {
		t.Errorf("conflux_relay_drops_total = %v, want 0", n)
	}
	devenvCheckCreation(t, pds, actions)
}

// checkReplay: a new subscriber from cursor 0 gets from the relay's log
// exactly what the live subscriber got, seq for seq.
func (rig *devenvRig) checkReplay(t *testing.T) {
	t.Helper()
	live := rig.relObs.snapshot()
	replay := devenvObserve(t, "relay replay", rig.relayWS)
	deadline := time.Now().Add(devenvWait)
	for replay.cons.Cursor() < live[len(live)-1].Seq {
		if time.Now().After(deadline) {
			t.Fatalf("replay from cursor 0 reached %d of %d", replay.cons.Cursor(), live[len(live)-1].Seq)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := replay.snapshot()
	if len(got) != len(live) {
		t.Fatalf("replay gave %d events, live %d", len(got), len(live))
	}
	for i := range live {
		if got[i].Seq != live[i].Seq || got[i].Type != live[i].Type || got[i].DID != live[i].DID || got[i].Key != live[i].Key {
			t.Fatalf("event %d: replay %d %s %s, live %d %s %s", i, got[i].Seq, got[i].Type, got[i].DID, live[i].Seq, live[i].Type, live[i].DID)
		}
	}
}

// devenvCheckCreation asserts the reference PDS's account-creation sequence
// (the case our relay must accept): #identity, #account, an empty #commit
// without prevData, then #sync of that commit's rev.
func devenvCheckCreation(t *testing.T, pds []devenvEvent, actions []devenvLine) {
	t.Helper()
	for _, a := range actions {
		if a.Action != "createAccount" {
			continue
		}
		var first []devenvEvent
		for _, e := range pds {
			if e.DID == a.DID && len(first) < 4 {
				first = append(first, e)
			}
		}
		ok := len(first) == 4 &&
			first[0].Type == firehose.TypeIdentity && first[0].Handle == a.Handle &&
			first[1].Type == firehose.TypeAccount && first[1].Active &&
			first[2].Type == firehose.TypeCommit && len(first[2].Ops) == 0 && !first[2].PrevData &&
			first[3].Type == firehose.TypeSync && first[3].Rev == first[2].Rev
		if !ok {
			t.Errorf("creation of %s: PDS events %+v; want #identity, #account, empty #commit without prevData, #sync", a.Handle, first)
		}
	}
}

func devenvMetricSum(t *testing.T, rig *devenvRig, name string) float64 {
	t.Helper()
	mfs, err := rig.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// checkCrawlRequests: the PDS asked the relay to crawl it, with its bare
// "localhost", and the relay answered 200.
func (rig *devenvRig) checkCrawlRequests(t *testing.T) {
	t.Helper()
	calls := rig.crawls.list()
	fromPDS := 0
	for _, c := range calls {
		if !strings.HasPrefix(c, "200 ") {
			t.Errorf("relay refused requestCrawl: %s", c)
		}
		if strings.Contains(c, `"hostname":"localhost"`) {
			fromPDS++
		}
	}
	if fromPDS == 0 {
		t.Errorf("no requestCrawl {\"hostname\":\"localhost\"} from the PDS reached the relay; calls: %q", calls)
	}
}

// devenvRecord is one record of a repo as the PDS's getRepo holds it.
type devenvRecord struct {
	CID   string
	Value any // the lexicon type (*lexicon.FeedPost, ...)
}

// devenvTruth is every account's records, by DID then path.
type devenvTruth map[string]map[string]devenvRecord

// posts returns every post URI in the truth, with its CID.
func (tr devenvTruth) posts() map[string]string {
	out := map[string]string{}
	for did, recs := range tr {
		for path, r := range recs {
			if strings.HasPrefix(path, lexicon.NSIDFeedPost+"/") {
				out["at://"+did+"/"+path] = r.CID
			}
		}
	}
	return out
}

// fetchRepos reads every account's repo from the PDS (getRepo, checked
// down to the MST), and cross-checks it with listRecords.
func (rig *devenvRig) fetchRepos(t *testing.T, actions []devenvLine) devenvTruth {
	t.Helper()
	truth := devenvTruth{}
	for _, a := range actions {
		if a.Action != "createAccount" {
			continue
		}
		body := rig.get(t, rig.pdsURL+"/xrpc/com.atproto.sync.getRepo?did="+url.QueryEscape(a.DID), http.StatusOK)
		roots, blocks, err := car.ReadBytes(body, car.Limits{})
		if err != nil || len(roots) != 1 {
			t.Fatalf("getRepo %s: roots %v: %v", a.DID, roots, err)
		}
		commit, err := repo.ParseCommit(blocks[roots[0]])
		if err != nil {
			t.Fatalf("getRepo %s: commit: %v", a.DID, err)
		}
		recs := map[string]devenvRecord{}
		err = mst.Load(blocks, commit.Data).Walk(func(key string, val cid.CID) error {
			coll, _, _ := strings.Cut(key, "/")
			v, err := lexicon.DecodeRecord(coll, blocks[val])
			if err != nil {
				return fmt.Errorf("record %s: %w", key, err)
			}
			recs[key] = devenvRecord{CID: val.String(), Value: v}
			return nil
		})
		if err != nil {
			t.Fatalf("getRepo %s: %v", a.DID, err)
		}
		truth[a.DID] = recs
		listed := rig.listPosts(t, a.DID)
		fromRepo := devenvTruth{a.DID: recs}.posts()
		if !maps.Equal(listed, fromRepo) {
			t.Errorf("%s: listRecords %v, getRepo %v", a.DID, listed, fromRepo)
		}
	}
	// What the script says it made must be what the repos hold.
	posts := truth.posts()
	deleted := map[string]bool{}
	for _, a := range actions {
		if strings.HasPrefix(a.Action, "delete") {
			deleted[a.URI] = true
		}
	}
	made := 0
	for _, a := range actions {
		if a.Action == "post" || a.Action == "reply" {
			made++
			if got, ok := posts[a.URI]; ok == deleted[a.URI] || (ok && got != a.CID) {
				t.Errorf("%s %s (deleted %t): repo holds %q, made %s", a.Action, a.URI, deleted[a.URI], got, a.CID)
			}
		}
	}
	t.Logf("reference repos: %d accounts, %d posts (%d made, %d deleted)", len(truth), len(posts), made, len(deleted))
	return truth
}

// listPosts pages through the PDS's listRecords of did's posts.
func (rig *devenvRig) listPosts(t *testing.T, did string) map[string]string {
	t.Helper()
	out := map[string]string{}
	q := url.Values{"repo": {did}, "collection": {lexicon.NSIDFeedPost}, "limit": {"100"}}
	for range 1000 {
		var page struct {
			Records []struct{ URI, CID string }
			Cursor  string
		}
		rig.getJSON(t, rig.pdsURL+"/xrpc/com.atproto.repo.listRecords?"+q.Encode(), &page)
		for _, r := range page.Records {
			out[r.URI] = r.CID
		}
		if page.Cursor == "" || len(page.Records) == 0 {
			return out
		}
		q.Set("cursor", page.Cursor)
	}
	t.Fatalf("listRecords %s: more than 1000 pages", did)
	return nil
}

// devenvHandles is each DID's latest handle, and the handles given up.
func devenvHandles(actions []devenvLine) (latest map[string]string, old []string) {
	latest = map[string]string{}
	for _, a := range actions {
		if a.Action == "createAccount" || a.Action == "updateHandle" {
			if prev, ok := latest[a.DID]; ok && prev != a.Handle {
				old = append(old, prev)
			}
			latest[a.DID] = a.Handle
		}
	}
	return latest, old
}

type devenvProfile struct {
	DID            string  `json:"did"`
	Handle         string  `json:"handle"`
	DisplayName    *string `json:"displayName"`
	Description    *string `json:"description"`
	FollowersCount int64   `json:"followersCount"`
	FollowsCount   int64   `json:"followsCount"`
	PostsCount     int64   `json:"postsCount"`
}

type devenvPostView struct {
	URI         string `json:"uri"`
	CID         string `json:"cid"`
	Author      struct{ DID string }
	ReplyCount  int64 `json:"replyCount"`
	RepostCount int64 `json:"repostCount"`
	LikeCount   int64 `json:"likeCount"`
}

// checkHidden: while did is deactivated the appview serves none of it,
// and still serves the others.
func (rig *devenvRig) checkHidden(t *testing.T, did string, actions []devenvLine) {
	t.Helper()
	rig.get(t, rig.avURL+"/xrpc/app.bsky.actor.getProfile?actor="+url.QueryEscape(did), http.StatusBadRequest)
	rig.get(t, rig.avURL+"/xrpc/app.bsky.feed.getAuthorFeed?actor="+url.QueryEscape(did), http.StatusBadRequest)
	var uris []string
	for _, a := range actions {
		if a.DID == did && a.Action == "post" {
			uris = append(uris, a.URI)
		}
		if a.Action == "createAccount" && a.DID != did {
			var p devenvProfile
			rig.getJSON(t, rig.avURL+"/xrpc/app.bsky.actor.getProfile?actor="+url.QueryEscape(a.DID), &p)
		}
	}
	if len(uris) == 0 {
		t.Fatalf("no posts of %s to check", did)
	}
	if got := rig.getPosts(t, uris); len(got) != 0 {
		t.Errorf("appview serves %d posts of deactivated %s", len(got), did)
	}
}

// checkAppView compares the appview with the PDS's repos: posts (deletes
// gone), counts, profiles and handles.
func (rig *devenvRig) checkAppView(t *testing.T, truth devenvTruth, actions []devenvLine) {
	t.Helper()
	latest, old := devenvHandles(actions)
	followers := map[string]int64{}
	likes, reposts, replies := map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, recs := range truth {
		for _, r := range recs {
			switch v := r.Value.(type) {
			case *lexicon.GraphFollow:
				followers[v.Subject]++
			case *lexicon.FeedLike:
				likes[v.Subject.URI]++
			case *lexicon.FeedRepost:
				reposts[v.Subject.URI]++
			case *lexicon.FeedPost:
				if v.Reply != nil {
					replies[v.Reply.Parent.URI]++
				}
			}
		}
	}
	for _, did := range slices.Sorted(maps.Keys(truth)) {
		recs := truth[did]
		var p devenvProfile
		rig.getJSON(t, rig.avURL+"/xrpc/app.bsky.actor.getProfile?actor="+url.QueryEscape(did), &p)
		want := devenvProfile{DID: did, Handle: latest[did], FollowersCount: followers[did]}
		for path, r := range recs {
			switch v := r.Value.(type) {
			case *lexicon.ActorProfile:
				if path == lexicon.NSIDActorProfile+"/self" {
					want.DisplayName, want.Description = v.DisplayName, v.Description
				}
			case *lexicon.GraphFollow:
				want.FollowsCount++
			case *lexicon.FeedPost:
				want.PostsCount++
			}
		}
		if fmt.Sprint(devenvDeref(p)) != fmt.Sprint(devenvDeref(want)) {
			t.Errorf("getProfile %s:\n got  %+v\n want %+v", did, devenvDeref(p), devenvDeref(want))
		}
		var byHandle devenvProfile
		rig.getJSON(t, rig.avURL+"/xrpc/app.bsky.actor.getProfile?actor="+url.QueryEscape(latest[did]), &byHandle)
		if byHandle.DID != did {
			t.Errorf("getProfile %s: did %s, want %s", latest[did], byHandle.DID, did)
		}
		authored := rig.authorFeed(t, did)
		if wantPosts := (devenvTruth{did: recs}).posts(); !maps.Equal(authored, wantPosts) {
			t.Errorf("getAuthorFeed %s:\n got  %v\n want %v", did, authored, wantPosts)
		}
	}
	for _, h := range old {
		rig.get(t, rig.avURL+"/xrpc/app.bsky.actor.getProfile?actor="+url.QueryEscape(h), http.StatusBadRequest)
	}

	// Every post ever made, deleted ones included: the appview serves
	// exactly the live ones, with the PDS's counts.
	posts := truth.posts()
	uris := slices.Collect(maps.Keys(posts))
	for _, a := range actions {
		if a.Action == "deletePost" {
			uris = append(uris, a.URI)
		}
	}
	sort.Strings(uris)
	served := map[string]string{}
	for _, pv := range rig.getPosts(t, uris) {
		served[pv.URI] = pv.CID
		want := [3]int64{likes[pv.URI], reposts[pv.URI], replies[pv.URI]}
		if got := [3]int64{pv.LikeCount, pv.RepostCount, pv.ReplyCount}; got != want {
			t.Errorf("%s: likes, reposts, replies %v, want %v", pv.URI, got, want)
		}
	}
	if !maps.Equal(served, posts) {
		t.Errorf("getPosts serves %d posts, the PDS holds %d:\n got  %v\n want %v", len(served), len(posts), served, posts)
	}
}

func devenvDeref(p devenvProfile) string {
	s := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	return fmt.Sprintf("did=%s handle=%s name=%q desc=%q followers=%d follows=%d posts=%d",
		p.DID, p.Handle, s(p.DisplayName), s(p.Description), p.FollowersCount, p.FollowsCount, p.PostsCount)
}

// authorFeed pages through getAuthorFeed and returns the author's own posts
// (not reposts) by URI.
func (rig *devenvRig) authorFeed(t *testing.T, did string) map[string]string {
	t.Helper()
	out := map[string]string{}
	cursor := ""
	for range 100 {
		var page struct {
			Feed []struct {
				Post   devenvPostView  `json:"post"`
				Reason json.RawMessage `json:"reason"`
			} `json:"feed"`
			Cursor string `json:"cursor"`
		}
		q := url.Values{"actor": {did}, "limit": {"20"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		rig.getJSON(t, rig.avURL+"/xrpc/app.bsky.feed.getAuthorFeed?"+q.Encode(), &page)
		for _, it := range page.Feed {
			if it.Reason == nil && it.Post.Author.DID == did {
				out[it.Post.URI] = it.Post.CID
			}
		}
		if page.Cursor == "" {
			return out
		}
		cursor = page.Cursor
	}
	t.Fatalf("getAuthorFeed %s: more than 100 pages", did)
	return nil
}

func (rig *devenvRig) getPosts(t *testing.T, uris []string) []devenvPostView {
	t.Helper()
	var out []devenvPostView
	for chunk := range slices.Chunk(uris, 25) {
		var res struct {
			Posts []devenvPostView `json:"posts"`
		}
		rig.getJSON(t, rig.avURL+"/xrpc/app.bsky.feed.getPosts?"+url.Values{"uris": chunk}.Encode(), &res)
		out = append(out, res.Posts...)
	}
	return out
}

// checkFeed pages through the all-posts feed (small pages, so cursors are
// used) and compares it with the PDS's posts.
func (rig *devenvRig) checkFeed(t *testing.T, truth devenvTruth) {
	t.Helper()
	got := map[string]bool{}
	cursor := ""
	pages := 0
	for ; pages < 1000; pages++ {
		var page struct {
			Feed   []struct{ Post string } `json:"feed"`
			Cursor string                  `json:"cursor"`
		}
		q := url.Values{"feed": {rig.feedURI}, "limit": {"7"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		rig.getJSON(t, rig.fgURL+"/xrpc/app.bsky.feed.getFeedSkeleton?"+q.Encode(), &page)
		for _, it := range page.Feed {
			if got[it.Post] {
				t.Errorf("feed repeats %s", it.Post)
			}
			got[it.Post] = true
		}
		if page.Cursor == "" {
			break
		}
		cursor = page.Cursor
	}
	want := map[string]bool{}
	for u := range truth.posts() {
		want[u] = true
	}
	if !maps.Equal(got, want) {
		t.Errorf("feed holds %d posts over %d pages, the PDS %d:\n got  %v\n want %v", len(got), pages+1, len(want), slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

// get fetches u and fails unless the status is want.
func (rig *devenvRig) get(t *testing.T, u string, want int) []byte {
	t.Helper()
	resp, err := rig.http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d: %.500s", u, resp.StatusCode, want, body)
	}
	return body
}

func (rig *devenvRig) getJSON(t *testing.T, u string, out any) {
	t.Helper()
	if err := json.Unmarshal(rig.get(t, u, http.StatusOK), out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
