package index

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

const ts = "2026-01-02T03:04:05.000Z"

func openMem(t testing.TB) *Index {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db)
}

func enc(t testing.TB, rec map[string]any) ([]byte, cid.CID) {
	t.Helper()
	data, err := dagcbor.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return data, cid.Sum(cid.DagCBOR, data)
}

func createOp(t testing.TB, path string, rec map[string]any) Op {
	data, c := enc(t, rec)
	return Op{Action: Create, Path: path, CID: c, Record: data}
}

func apply(t testing.TB, ix *Index, did string, ops ...Op) {
	t.Helper()
	b := ix.DB().NewIndexedBatch()
	if err := ix.ApplyCommit(b, did, ops); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
}

func dump(t testing.TB, db *pebble.DB) []byte {
	t.Helper()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var buf bytes.Buffer
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Fprintf(&buf, "%q=%q\n", it.Key(), it.Value())
	}
	return buf.Bytes()
}

func count(t testing.TB, ix *Index, subject string, k CountKind) int64 {
	t.Helper()
	n, err := Count(ix.DB(), subject, k)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func post(text string) map[string]any {
	return map[string]any{"$type": lexicon.NSIDFeedPost, "text": text, "createdAt": ts}
}

func ref(uri string, c cid.CID) map[string]any { return map[string]any{"uri": uri, "cid": c.String()} }

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ix := openMem(t)
	alice, bob := "did:plc:alice", "did:plc:bob"
	rootOp := createOp(t, "app.bsky.feed.post/3aaaaaaaaaaa2", post("hello #go"))
	rootURI := "at://" + alice + "/app.bsky.feed.post/3aaaaaaaaaaa2"
	apply(t, ix, alice, rootOp)

	reply := post("reply")
	reply["reply"] = map[string]any{"root": ref(rootURI, rootOp.CID), "parent": ref(rootURI, rootOp.CID)}
	quote := post("quote")
	quote["embed"] = map[string]any{"$type": lexicon.NSIDEmbedRecord, "record": ref(rootURI, rootOp.CID)}
	like := map[string]any{"$type": lexicon.NSIDFeedLike, "subject": ref(rootURI, rootOp.CID), "createdAt": ts}
	repost := map[string]any{"$type": lexicon.NSIDFeedRepost, "subject": ref(rootURI, rootOp.CID), "createdAt": ts}
	follow := map[string]any{"$type": lexicon.NSIDGraphFollow, "subject": alice, "createdAt": ts}
	ops := []Op{
		createOp(t, "app.bsky.feed.post/3aaaaaaaaaab2", reply),
		createOp(t, "app.bsky.feed.post/3aaaaaaaaaac2", quote),
		createOp(t, "app.bsky.feed.like/3aaaaaaaaaad2", like),
		createOp(t, "app.bsky.feed.repost/3aaaaaaaaaae2", repost),
		createOp(t, "app.bsky.graph.follow/3aaaaaaaaaaf2", follow),
	}
	apply(t, ix, bob, ops...)
	want := map[CountKind]int64{CountLikes: 1, CountReposts: 1, CountReplies: 1, CountQuotes: 1}
	for k, n := range want {
		if got := count(t, ix, rootURI, k); got != n {
			t.Errorf("count %c = %d, want %d", k, got, n)
		}
	}
	if count(t, ix, alice, CountFollowers) != 1 || count(t, ix, bob, CountFollows) != 1 || count(t, ix, bob, CountPosts) != 2 {
		t.Error("actor counts wrong")
	}
	before := dump(t, ix.DB())
	apply(t, ix, bob, ops...) // redelivery
	apply(t, ix, alice, rootOp)
	if after := dump(t, ix.DB()); !bytes.Equal(before, after) {
		t.Fatalf("redelivery changed the index:\n%s\n---\n%s", before, after)
	}

	// An update that drops the reply moves the count; a delete cascades.
	upd := createOp(t, "app.bsky.feed.post/3aaaaaaaaaab2", post("no longer a reply"))
	upd.Action = Update
	apply(t, ix, bob, upd, Op{Action: Delete, Path: "app.bsky.feed.like/3aaaaaaaaaad2"})
	if count(t, ix, rootURI, CountReplies) != 0 || count(t, ix, rootURI, CountLikes) != 0 {
		t.Error("update/delete did not cascade")
	}
	if count(t, ix, bob, CountPosts) != 2 {
		t.Error("update changed the post count")
	}
	likes, _, err := Edges(ix.DB(), EdgeLikes, rootURI, "", 10)
	if err != nil || len(likes) != 0 {
		t.Errorf("likes after delete = %v, %v", likes, err)
	}
	var feed []string
	if err := AuthorFeed(ix.DB(), bob, "", func(it FeedItem) bool { feed = append(feed, it.RKey); return true }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(feed, ",") != "3aaaaaaaaaae2,3aaaaaaaaaac2,3aaaaaaaaaab2" {
		t.Errorf("author feed = %v", feed)
	}
}

func TestBadRecordsSkipped(t *testing.T) {
	t.Parallel()
	ix := openMem(t)
	did := "did:plc:bad"
	wrongType := post("x")
	wrongType["text"] = int64(5)
	missing := map[string]any{"$type": lexicon.NSIDFeedPost, "text": "no createdAt"}
	long := post(strings.Repeat("a", 3001))
	badLike := map[string]any{"$type": lexicon.NSIDFeedLike, "subject": "not a ref", "createdAt": ts}
	badUTF8 := []byte{0xa2, 0x64, 't', 'e', 'x', 't', 0x62, 0xff, 0xfe, 0x65, '$', 't', 'y', 'p', 'e', 0x60}
	ops := []Op{
		createOp(t, "app.bsky.feed.post/a", wrongType),
		createOp(t, "app.bsky.feed.post/b", missing),
		createOp(t, "app.bsky.feed.post/c", long),
		createOp(t, "app.bsky.feed.like/d", badLike),
		{Action: Create, Path: "app.bsky.feed.post/e", CID: cid.Sum(cid.DagCBOR, badUTF8), Record: badUTF8},
		createOp(t, "com.example.thing/f", map[string]any{"$type": "com.example.thing"}),
		{Action: Create, Path: "app.bsky.feed.post/g", CID: cid.Sum(cid.DagCBOR, []byte{1})},
		{Action: Create, Path: "no-slash"},
		{Action: "frobnicate", Path: "app.bsky.feed.post/h"},
		createOp(t, "app.bsky.feed.post/ok", post("fine")),
	}
	apply(t, ix, did, ops...)
	got := ix.Skipped()
	want := map[SkipReason]int64{SkipInvalidRecord: 5, SkipUnknownCollection: 1, SkipMissingBlock: 1, SkipBadPath: 1, SkipBadAction: 1}
	for r, n := range want {
		if got[r] != n {
			t.Errorf("skipped %s = %d, want %d (all: %v)", r, got[r], n, got)
		}
	}
	if count(t, ix, did, CountPosts) != 1 {
		t.Error("the good post was not indexed")
	}
}

func TestActorState(t *testing.T) {
	t.Parallel()
	ix := openMem(t)
	b := ix.DB().NewIndexedBatch()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ix.ApplyIdentity(b, "did:plc:a", "a.test"))
	_, err := ix.ApplyAccount(b, "did:plc:a", false, "takendown")
	must(err)
	must(b.Commit(pebble.NoSync))
	a, err := GetActor(ix.DB(), "did:plc:a")
	must(err)
	if a.Handle != "a.test" || !a.Hidden() {
		t.Fatalf("actor = %+v", a)
	}
	b = ix.DB().NewIndexedBatch()
	must(ix.ApplyIdentity(b, "did:plc:a", "b.test"))
	_, err = ix.ApplyAccount(b, "did:plc:a", true, "")
	must(err)
	must(b.Commit(pebble.NoSync))
	if a, _ = GetActor(ix.DB(), "did:plc:a"); a.Handle != "b.test" || a.Hidden() {
		t.Fatalf("actor = %+v", a)
	}
}

// randomStream builds a deterministic stream of commits over a few actors:
// creates, updates and deletes of posts (replies, quotes), likes, reposts
// and follows, some pointing at records that are later deleted.
type commit struct {
	did string
	ops []Op
	// account, if set, makes this an #account event instead.
	account *accountEvent
}

type accountEvent struct {
	active bool
	status string
}

// applyEvent applies one stream entry in its own batch.
func applyEvent(t testing.TB, ix *Index, c commit) {
	t.Helper()
	if c.account == nil {
		apply(t, ix, c.did, c.ops...)
		return
	}
	b := ix.DB().NewIndexedBatch()
	if _, err := ix.ApplyAccount(b, c.did, c.account.active, c.account.status); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
}

func randomStream(t testing.TB, seed uint64, n int) []commit {
	rng := rand.New(rand.NewPCG(seed, 1))
	dids := []string{"did:plc:a", "did:plc:b", "did:plc:c", "did:plc:d"}
	var commits []commit
	type live struct {
		did, path string
		c         cid.CID
	}
	var posts, others []live
	for i := range n {
		did := dids[rng.IntN(len(dids))]
		rkey := fmt.Sprintf("3k%011d", i)
		var op Op
		switch x := rng.IntN(10); {
		case x < 3 || len(posts) == 0:
			p := post(fmt.Sprintf("post %d", i))
			if len(posts) > 0 && rng.IntN(2) == 0 {
				par := posts[rng.IntN(len(posts))]
				u := "at://" + par.did + "/" + par.path
				p["reply"] = map[string]any{"root": ref(u, par.c), "parent": ref(u, par.c)}
			} else if len(posts) > 0 && rng.IntN(3) == 0 {
				q := posts[rng.IntN(len(posts))]
				p["embed"] = map[string]any{"$type": lexicon.NSIDEmbedRecord, "record": ref("at://"+q.did+"/"+q.path, q.c)}
			}
			op = createOp(t, "app.bsky.feed.post/"+rkey, p)
			posts = append(posts, live{did, op.Path, op.CID})
		case x < 7:
			s := posts[rng.IntN(len(posts))]
			coll := []string{lexicon.NSIDFeedLike, lexicon.NSIDFeedRepost}[rng.IntN(2)]
			op = createOp(t, coll+"/"+rkey, map[string]any{"$type": coll, "subject": ref("at://"+s.did+"/"+s.path, s.c), "createdAt": ts})
			others = append(others, live{did, op.Path, op.CID})
		case x < 8:
			op = createOp(t, "app.bsky.graph.follow/"+rkey, map[string]any{"$type": lexicon.NSIDGraphFollow, "subject": dids[rng.IntN(len(dids))], "createdAt": ts})
			others = append(others, live{did, op.Path, op.CID})
		case x < 9 && len(others) > 0:
			j := rng.IntN(len(others))
			d := others[j]
			others = append(others[:j], others[j+1:]...)
			did, op = d.did, Op{Action: Delete, Path: d.path}
		default:
			j := rng.IntN(len(posts))
			d := posts[j]
			if rng.IntN(2) == 0 {
				posts = append(posts[:j], posts[j+1:]...)
				did, op = d.did, Op{Action: Delete, Path: d.path}
			} else {
				did = d.did
				op = createOp(t, d.path, post(fmt.Sprintf("edited %d", i)))
				op.Action = Update
				posts[j].c = op.CID
			}
		}
		commits = append(commits, commit{did: did, ops: []Op{op}})
		if rng.IntN(60) == 0 {
			// An account changes status: hidden, shown again, or deleted
			// (purged) and later restored.
			ev := []accountEvent{{false, "takendown"}, {false, "deactivated"}, {true, ""}, {true, ""}, {false, StatusDeleted}}[rng.IntN(5)]
			commits = append(commits, commit{did: dids[rng.IntN(len(dids))], account: &ev})
		}
	}
	return commits
}

// TestReplayIsByteIdentical applies a stream once, and again with random
// ranges redelivered (what a crash before the cursor commit or a rewound
// cursor produces): the two indexes must be byte-identical, and every count
// must equal the count recomputed from the stored records.
func TestReplayIsByteIdentical(t *testing.T) {
	t.Parallel()
	stream := randomStream(t, 7, 3000)
	clean := openMem(t)
	for _, c := range stream {
		applyEvent(t, clean, c)
	}
	replayed := openMem(t)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < len(stream); {
		j := min(len(stream), i+1+rng.IntN(200))
		for _, c := range stream[i:j] {
			applyEvent(t, replayed, c)
		}
		// "Crash": the cursor stayed at some earlier point; replay from there.
		back := max(0, i-rng.IntN(300))
		for _, c := range stream[back:j] {
			applyEvent(t, replayed, c)
		}
		i = j
	}
	if a, b := dump(t, clean.DB()), dump(t, replayed.DB()); !bytes.Equal(a, b) {
		t.Fatalf("replayed index differs from the clean one (%d vs %d bytes)", len(a), len(b))
	}
	checkCountsAgainstRecords(t, clean)
}

// checkCountsAgainstRecords recomputes every count from the 'r' records
// and the actors' visibility: only visible authors' records count, and a
// follow counts toward its author's follows only while its subject is
// visible (or is the author).
func checkCountsAgainstRecords(t *testing.T, ix *Index) {
	t.Helper()
	want := map[string]int64{}
	add := func(subject string, k CountKind) {
		if subject != "" {
			want[string(countKey(subject, k))]++
		}
	}
	visible := func(did string) bool {
		a, err := GetActor(ix.DB(), did)
		if err != nil {
			t.Fatal(err)
		}
		return !a.Hidden()
	}
	it, err := ix.DB().NewIter(&pebble.IterOptions{LowerBound: []byte{pRecord}, UpperBound: []byte{pRecord + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		uri := string(it.Key()[1:])
		r, _, err := GetRecord(ix.DB(), uri)
		if err != nil {
			t.Fatal(err)
		}
		did, coll, _, _ := splitURI(uri)
		if !visible(did) {
			continue
		}
		switch coll {
		case lexicon.NSIDFeedPost:
			add(did, CountPosts)
			if r.Reply != nil {
				add(r.Reply.Parent, CountReplies)
			}
			add(r.Quote, CountQuotes)
		case lexicon.NSIDFeedLike:
			add(r.Subject, CountLikes)
		case lexicon.NSIDFeedRepost:
			add(r.Subject, CountReposts)
		case lexicon.NSIDGraphFollow:
			add(r.Subject, CountFollowers)
			if r.Subject == did || visible(r.Subject) {
				add(did, CountFollows)
			}
		}
	}
	got := map[string]int64{}
	ci, _ := ix.DB().NewIter(&pebble.IterOptions{LowerBound: []byte{pCount}, UpperBound: []byte{pCount + 1}})
	defer ci.Close()
	for ok := ci.First(); ok; ok = ci.Next() {
		got[string(ci.Key())] = decodeInt(ci.Value())
	}
	if len(got) != len(want) {
		t.Errorf("%d count keys, want %d", len(got), len(want))
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("count %q = %d, want %d", k, got[k], n)
		}
	}
}

// TestHiddenAccountCounts: a hidden account's likes, reposts, replies,
// quotes and follows stop counting, and count again when it is active; a
// deleted account is purged and stays out after restoring until its
// records come back.
func TestHiddenAccountCounts(t *testing.T) {
	t.Parallel()
	ix := openMem(t)
	alice, bob := "did:plc:alice", "did:plc:bob"
	rootOp := createOp(t, "app.bsky.feed.post/3aaaaaaaaaaa2", post("hello"))
	rootURI := "at://" + alice + "/app.bsky.feed.post/3aaaaaaaaaaa2"
	apply(t, ix, alice, rootOp, createOp(t, "app.bsky.graph.follow/3aaaaaaaaaaz2",
		map[string]any{"$type": lexicon.NSIDGraphFollow, "subject": bob, "createdAt": ts}))
	reply := post("reply")
	reply["reply"] = map[string]any{"root": ref(rootURI, rootOp.CID), "parent": ref(rootURI, rootOp.CID)}
	quote := post("quote")
	quote["embed"] = map[string]any{"$type": lexicon.NSIDEmbedRecord, "record": ref(rootURI, rootOp.CID)}
	apply(t, ix, bob,
		createOp(t, "app.bsky.feed.post/3aaaaaaaaaab2", reply),
		createOp(t, "app.bsky.feed.post/3aaaaaaaaaac2", quote),
		createOp(t, "app.bsky.feed.like/3aaaaaaaaaad2", map[string]any{"$type": lexicon.NSIDFeedLike, "subject": ref(rootURI, rootOp.CID), "createdAt": ts}),
		createOp(t, "app.bsky.feed.repost/3aaaaaaaaaae2", map[string]any{"$type": lexicon.NSIDFeedRepost, "subject": ref(rootURI, rootOp.CID), "createdAt": ts}),
		createOp(t, "app.bsky.graph.follow/3aaaaaaaaaaf2", map[string]any{"$type": lexicon.NSIDGraphFollow, "subject": alice, "createdAt": ts}))
	shown := dump(t, ix.DB())
	check := func(state string, n int64) {
		t.Helper()
		for _, k := range []CountKind{CountLikes, CountReposts, CountReplies, CountQuotes} {
			if got := count(t, ix, rootURI, k); got != n {
				t.Errorf("%s: post count %c = %d, want %d", state, k, got, n)
			}
		}
		if got := count(t, ix, alice, CountFollowers); got != n {
			t.Errorf("%s: alice followers = %d, want %d", state, got, n)
		}
		if got := count(t, ix, alice, CountFollows); got != n {
			t.Errorf("%s: alice follows (of bob) = %d, want %d", state, got, n)
		}
		checkCountsAgainstRecords(t, ix)
	}
	account := func(active bool, status string) bool {
		t.Helper()
		b := ix.DB().NewIndexedBatch()
		restored, err := ix.ApplyAccount(b, bob, active, status)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		return restored
	}
	check("active", 1)
	for _, status := range []string{"takendown", "deactivated", "suspended"} {
		account(false, status)
		check(status, 0)
		account(false, status) // redelivered
		check(status, 0)
		if account(true, "") {
			t.Errorf("reactivating a %s account reports a restore", status)
		}
		check("reactivated", 1)
		if got := dump(t, ix.DB()); !bytes.Equal(got, shown) {
			t.Fatalf("hide and show after %s changed the index:\n%s\n---\n%s", status, got, shown)
		}
	}

	account(false, StatusDeleted)
	check("deleted", 0)
	if ids, err := RecordCIDs(ix.DB(), bob); err != nil || len(ids) != 0 {
		t.Fatalf("deleted account still has records %v (%v)", ids, err)
	}
	for _, k := range []EdgeKind{EdgeLikes, EdgeReposts, EdgeReplies, EdgeQuotes} {
		if l, _, _ := Edges(ix.DB(), k, rootURI, "", 10); len(l) != 0 {
			t.Errorf("edge list %c still holds %v after purge", k, l)
		}
	}
	if !account(true, "") {
		t.Error("reactivating a deleted account does not report a restore")
	}
	// Restored but not yet refetched: alice's follow of bob counts again,
	// bob's purged records do not.
	if got := count(t, ix, alice, CountFollows); got != 1 {
		t.Errorf("alice follows after restore = %d, want 1", got)
	}
	if got := count(t, ix, rootURI, CountLikes); got != 0 {
		t.Errorf("likes after restore = %d, want 0", got)
	}
	checkCountsAgainstRecords(t, ix)
}

// TestBatchGetReadsThrough pins the Pebble behaviour get relies on: Get on
// an indexed batch sees the DB's value, the batch's own overwrite, and the
// batch's delete.
func TestBatchGetReadsThrough(t *testing.T) {
	t.Parallel()
	ix := openMem(t)
	db := ix.DB()
	for _, k := range []string{"a", "b", "c"} {
		if err := db.Set([]byte(k), []byte("db"), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	b := db.NewIndexedBatch()
	defer b.Close()
	if err := b.Set([]byte("b"), []byte("batch"), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete([]byte("c"), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Set([]byte("d"), []byte("new"), nil); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"a": "db", "b": "batch", "c": "", "d": "new", "e": ""} {
		v, ok, err := get(b, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if string(v) != want || ok != (want != "") {
			t.Errorf("get %s = %q, %v; want %q", k, v, ok, want)
		}
	}
}
