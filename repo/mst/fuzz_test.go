package mst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// FuzzDecodeNode: any bytes decode to an error wrapping ErrInvalidNode or to
// a node that re-encodes to exactly the same bytes.
func FuzzDecodeNode(f *testing.F) {
	for _, b := range fixtureNodes(f) {
		f.Add(b)
	}
	v := fakeCID(1)
	f.Add([]byte(emptyNode))
	f.Add([]byte{})
	f.Add([]byte("\xa2\x61e\x9f\xff\x61l\xf6"))
	f.Add(appendHead([]byte("\xa2\x61e"), majorArray, MaxEntries+1))
	f.Add(rawNode(cid.Undef, rawEntry{k: "k/a0", v: v}, rawEntry{k: "b0", p: 2, v: v}))
	f.Add(rawNode(cid.Undef, rawEntry{k: "k/b0", v: v}, rawEntry{k: "a0", p: 2, v: v}))
	f.Add(rawNode(cid.Undef, rawEntry{k: "k/a0", v: v}, rawEntry{k: "x", p: 9, v: v}))
	f.Add(rawNode(v, rawEntry{k: "k/a0", v: v, t: v}))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := DecodeNode(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidNode) {
				t.Fatalf("error without ErrInvalidNode: %v", err)
			}
			return
		}
		if !bytes.Equal(n.Encode(), b) {
			t.Fatalf("re-encodes differently:\n in %x\nout %x", b, n.Encode())
		}
		for i := 1; i < len(n.Entries); i++ {
			if bytes.Compare(n.Entries[i-1].Key, n.Entries[i].Key) >= 0 {
				t.Fatal("keys not increasing")
			}
		}
	})
}

// encodeBlocks frames blocks as 2-byte lengths followed by the bytes.
func encodeBlocks(blocks [][]byte) []byte {
	var out []byte
	for _, b := range blocks {
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

// treeSeed returns a tree's nodes, root first, framed for FuzzTreeBlocks.
func treeSeed(t testing.TB, m map[string]cid.CID) []byte {
	_, bs, root := build(t, m)
	blocks := [][]byte{bs[root]}
	for c, b := range bs {
		if c != root {
			blocks = append(blocks, b)
		}
	}
	return encodeBlocks(blocks)
}

// FuzzTreeBlocks loads a tree whose root is the first of the fuzzed blocks
// and walks it. A tree that loads in full must be a canonical MST: rebuilt
// from its contents it has the same root, and Get and Diff agree with Walk.
func FuzzTreeBlocks(f *testing.F) {
	var fixtures []proofFixture
	readJSON(f, "firehose/commit-proof-fixtures.json", &fixtures)
	for _, fx := range fixtures {
		m := map[string]cid.CID{}
		for _, k := range fx.Keys {
			m[k] = cid.MustDecode(fx.LeafValue)
		}
		f.Add(treeSeed(f, m))
	}
	m := map[string]cid.CID{}
	for i, k := range realisticKeys(51, 60) {
		m[k] = fakeCID(i)
	}
	f.Add(treeSeed(f, m))
	f.Add(encodeBlocks([][]byte{[]byte(emptyNode)}))
	f.Fuzz(func(t *testing.T, in []byte) {
		bs := MemBlocks{}
		var root cid.CID
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			if n > len(in) {
				n = len(in)
			}
			c := cid.Sum(cid.DagCBOR, in[:n])
			bs[c] = in[:n]
			if !root.Defined() {
				root = c
			}
			in = in[n:]
		}
		if !root.Defined() {
			return
		}
		tr := Load(bs, root)
		got := map[string]cid.CID{}
		var keys []string
		err := tr.Walk(func(k string, v cid.CID) error {
			if len(keys) > 0 && k <= keys[len(keys)-1] {
				t.Fatalf("walk out of order: %q after %q", k, keys[len(keys)-1])
			}
			keys = append(keys, k)
			got[k] = v
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrInvalidNode) && !errors.Is(err, ErrMissingBlock) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		_, _, rroot := build(t, got)
		if rroot != root {
			t.Fatalf("loaded tree is not canonical: root %s, rebuilt %s", root, rroot)
		}
		for _, k := range keys {
			if v, ok, err := tr.Get(k); err != nil || !ok || v != got[k] {
				t.Fatalf("Get(%q) = %s %v %v", k, v, ok, err)
			}
		}
		changes, err := Diff(bs, cid.Undef, root)
		if err != nil || len(changes) != len(keys) {
			t.Fatalf("Diff from empty: %d changes, %v", len(changes), err)
		}
	})
}

// FuzzEdits drives puts and deletes over a small key space, then checks the
// root against the spec-built root, the walk against the model, and a lazy
// reload against the in-memory tree.
func FuzzEdits(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0x80, 0x81, 0x82, 1, 2, 0x81, 0x80})
	f.Add(bytes.Repeat([]byte{3, 0x83}, 10))
	keys := randomKeys(rand.New(rand.NewPCG(61, 62)), 64)
	f.Fuzz(func(t *testing.T, ops []byte) {
		tr := New()
		m := map[string]cid.CID{}
		bs := MemBlocks{}
		for i, op := range ops {
			k := keys[op&63]
			var prev cid.CID
			var err error
			if op&0x80 != 0 {
				prev, err = tr.Delete(k)
				if prev != m[k] {
					t.Fatalf("delete %s: prev %s, want %s", k, prev, m[k])
				}
				delete(m, k)
			} else {
				v := fakeCID(i % 3)
				prev, err = tr.Put(k, v)
				if prev != m[k] {
					t.Fatalf("put %s: prev %s, want %s", k, prev, m[k])
				}
				m[k] = v
			}
			if err != nil {
				t.Fatal(err)
			}
			if op&0x40 != 0 {
				// Persist and continue on a lazily loaded copy.
				tr = Load(bs, commit(t, tr, bs))
			}
		}
		root := commit(t, tr, bs)
		if want := refRoot(m); root != want {
			t.Fatalf("root %s, want %s", root, want)
		}
		if got := contents(t, Load(bs, root)); !maps.Equal(got, m) {
			t.Fatalf("reloaded contents differ: %v", slices.Sorted(maps.Keys(got)))
		}
	})
}
