package index

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func open(t *testing.T) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func uris(t *testing.T, r Reader, feed string) []string {
	t.Helper()
	items, more, err := Page(r, feed, nil, 1000)
	if err != nil || more {
		t.Fatal(err, more)
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.URI
	}
	return out
}

func TestIndexOps(t *testing.T) {
	t.Parallel()
	db := open(t)
	b := db.NewIndexedBatch()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const a, c = "did:plc:a", "did:plc:c"
	must(Add(b, "f", a, "at://a/p/1", 10))
	must(Add(b, "f", a, "at://a/p/2", -5)) // before 1970 still sorts first
	must(Add(b, "f", c, "at://c/p/1", 10))
	must(Add(b, "g", a, "at://a/p/1", 10))
	must(Add(b, "f", a, "at://a/p/1", 20)) // re-add moves, never duplicates
	must(Add(b, "f", a, "at://a/p/1", 20)) // idempotent
	if got := uris(t, b, "f"); len(got) != 3 || got[0] != "at://a/p/1" || got[1] != "at://c/p/1" || got[2] != "at://a/p/2" {
		t.Fatalf("f = %v", got)
	}
	must(Delete(b, "f", a, "at://nope"))
	must(PurgeAuthor(b, "f", a))
	if got := uris(t, b, "f"); len(got) != 1 || got[0] != "at://c/p/1" {
		t.Fatalf("f after purge = %v", got)
	}
	if got := uris(t, b, "g"); len(got) != 1 {
		t.Fatalf("purge of f touched g: %v", got)
	}
	must(PutInteraction(b, "f", "at://a/like/1", 1, "at://c/p/1"))
	k, s, ok, err := TakeInteraction(b, "f", "at://a/like/1")
	if err != nil || !ok || k != 1 || s != "at://c/p/1" {
		t.Fatalf("take: %v %q %v %v", k, s, ok, err)
	}
	if _, _, ok, err := TakeInteraction(b, "f", "at://a/like/1"); ok || err != nil {
		t.Fatalf("second take: %v %v", ok, err)
	}
	n, err := Expire(b, "f", 11)
	if err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	must(b.Commit(nil))
	it, err := db.NewIter(nil)
	must(err)
	defer it.Close()
	left := 0
	for ok := it.First(); ok; ok = it.Next() {
		if it.Key()[0] == prefixItem || it.Key()[0] == prefixMember {
			if string(it.Key()[1:3]) == "f\x00" {
				left++
			}
		}
	}
	if left != 0 {
		t.Fatalf("%d item/membership keys of f left", left)
	}
}

// TestFeedNamePrefix: a feed whose name extends another's never shows in it.
func TestFeedNamePrefix(t *testing.T) {
	t.Parallel()
	db := open(t)
	b := db.NewIndexedBatch()
	if err := Add(b, "ab", "did:plc:a", "at://x/1", 1); err != nil {
		t.Fatal(err)
	}
	if got := uris(t, b, "a"); len(got) != 0 {
		t.Fatalf("feed a sees %v", got)
	}
}

// TestHideScoreVersion: hiding an author removes its items and keeps them
// for Unhide (scores included); every served change moves the version;
// counts are read back in one pass.
func TestHideScoreVersion(t *testing.T) {
	t.Parallel()
	db := open(t)
	b := db.NewIndexedBatch()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vk := VersionKey("f")
	last := uint64(0)
	moved := func(step string, want bool) {
		t.Helper()
		v, err := Version(b, vk)
		must(err)
		if (v != last) != want {
			t.Fatalf("%s: version %d -> %d, want moved=%v", step, last, v, want)
		}
		last = v
	}
	const a, c = "did:plc:a", "did:plc:c"
	must(AddScored(b, "f", a, "at://a/p/1", 10, 2.5))
	moved("add", true)
	must(Add(b, "f", c, "at://c/p/1", 11))
	must(Hide(b, "f", a, "takendown"))
	moved("hide", true)
	if got := uris(t, b, "f"); len(got) != 1 || got[0] != "at://c/p/1" {
		t.Fatalf("hidden: %v", got)
	}
	must(AddScored(b, "f", a, "at://a/p/2", 12, 1))
	if got := uris(t, b, "f"); len(got) != 1 {
		t.Fatalf("a hidden author's new post is served: %v", got)
	}
	must(Unhide(b, "f", c)) // not hidden: nothing
	moved("unhide of a visible author", false)
	must(Unhide(b, "f", a))
	moved("unhide", true)
	items, _, err := Page(b, "f", nil, 10)
	must(err)
	if len(items) != 3 || items[0] != (Item{"at://a/p/2", 12, 1}) || items[2] != (Item{"at://a/p/1", 10, 2.5}) {
		t.Fatalf("restored items %+v", items)
	}
	must(AddLikes(b, "f", "at://a/p/1", 3))
	must(AddReposts(b, "f", "at://a/p/1", 2))
	must(AddLikes(b, "f", "at://c/p/1", 1))
	must(AddLikes(b, "f", "at://c/p/1", -5)) // never below zero: deleted
	moved("counts", false)
	counts, err := AllCounts(b, "f")
	must(err)
	if len(counts) != 1 || counts["at://a/p/1"] != (Counts{3, 2}) {
		t.Fatalf("counts %+v", counts)
	}
	must(Touch(b, "f"))
	moved("touch", true)
	n, err := Expire(b, "f", 11)
	must(err)
	if n != 1 {
		t.Fatalf("expired %d", n)
	}
	moved("expire", true)
	if counts, err := AllCounts(b, "f"); err != nil || len(counts) != 0 {
		t.Fatalf("counters of an expired post left: %v %v", counts, err)
	}
}
