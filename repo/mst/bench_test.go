package mst

import (
	"maps"
	"slices"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

const benchKeys = 100_000

func benchRepo(b *testing.B) (map[string]cid.CID, []string) {
	keys := realisticKeys(71, benchKeys)
	m := make(map[string]cid.CID, len(keys))
	for i, k := range keys {
		m[k] = fakeCID(i)
	}
	return m, keys
}

// BenchmarkInsert100k builds a 100k-record tree from empty, in record
// creation order, and computes its root.
func BenchmarkInsert100k(b *testing.B) {
	m, keys := benchRepo(b)
	vals := make([]cid.CID, len(keys))
	for i, k := range keys {
		vals[i] = m[k]
	}
	b.ReportAllocs()
	for b.Loop() {
		tr := New()
		for i, k := range keys {
			if _, err := tr.Put(k, vals[i]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := tr.Root(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiff100k diffs two stored 100k-record trees that differ in 10
// records (4 updates, 4 deletes, 2 creates).
func BenchmarkDiff100k(b *testing.B) {
	m, keys := benchRepo(b)
	m2 := maps.Clone(m)
	for i := range 4 {
		m2[keys[i*20011]] = fakeCID(-1 - i)
		delete(m2, keys[i*20011+7])
	}
	m2["app.bsky.feed.post/zzzzzzzzzzzz1"] = fakeCID(-10)
	m2["app.bsky.feed.like/3kaaaaaaaaaa2"] = fakeCID(-11)
	_, bs, ra := build(b, m)
	_, bs2, rb := build(b, m2)
	maps.Copy(bs, bs2)
	b.ReportAllocs()
	for b.Loop() {
		changes, err := Diff(bs, ra, rb)
		if err != nil || len(changes) != 10 {
			b.Fatalf("%d changes, %v", len(changes), err)
		}
	}
}

// BenchmarkInvertOneOp checks a one-create commit against a 100k-record repo,
// with the tree loaded from the commit's proof blocks only.
func BenchmarkInvertOneOp(b *testing.B) {
	m, _ := benchRepo(b)
	tr, bs, before := build(b, m)
	key := "app.bsky.feed.post/3zzzzzzzzzzz2"
	if _, err := tr.Put(key, fakeCID(-1)); err != nil {
		b.Fatal(err)
	}
	after := commit(b, tr, bs)
	changes := []Change{{Key: key, New: fakeCID(-1)}}
	proof, err := ProofBlocks(bs, after, changes)
	if err != nil {
		b.Fatal(err)
	}
	slice := MemBlocks{}
	for _, c := range proof {
		slice[c] = bs[c]
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := Invert(slice, after, changes)
		if err != nil || got != before {
			b.Fatalf("%s %v", got, err)
		}
	}
	b.ReportMetric(float64(len(proof)), "proof-blocks")
}

// typicalNode returns a node block of median size from a 100k-record tree.
func typicalNode(b *testing.B) []byte {
	m, _ := benchRepo(b)
	_, bs, _ := build(b, m)
	blocks := slices.Collect(maps.Values(bs))
	slices.SortFunc(blocks, func(x, y []byte) int { return len(x) - len(y) })
	return blocks[len(blocks)/2]
}

func BenchmarkDecodeNode(b *testing.B) {
	blk := typicalNode(b)
	nd, err := DecodeNode(blk)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("typical node: %d bytes, %d entries", len(blk), len(nd.Entries))
	b.Run("reuse", func(b *testing.B) {
		var n NodeData
		b.SetBytes(int64(len(blk)))
		b.ReportAllocs()
		for b.Loop() {
			if err := n.Decode(blk); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		b.SetBytes(int64(len(blk)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeNode(blk); err != nil {
				b.Fatal(err)
			}
		}
	})
}
