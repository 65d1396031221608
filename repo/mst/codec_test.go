package mst

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// keyOfHeight returns the first key prefix+N (N = 0, 1, ...) of height h
// that sorts after after.
func keyOfHeight(h int, prefix, after string) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s%d", prefix, i)
		if k > after && Height([]byte(k)) == h {
			return k
		}
	}
}

type rawEntry struct {
	k    string // suffix as written
	p    int
	t, v cid.CID
}

// rawNode encodes a node with the prefix lengths and suffixes exactly as
// given, canonical or not.
func rawNode(left cid.CID, es ...rawEntry) []byte {
	b := appendNodeHead(nil, len(es))
	for _, e := range es {
		b = append(b, 0xa4, 0x61, 'k')
		b = appendHead(b, majorBytes, uint64(len(e.k)))
		b = append(b, e.k...)
		b = append(b, 0x61, 'p')
		b = appendHead(b, majorUint, uint64(e.p))
		b = append(b, 0x61, 't')
		b = appendLink(b, e.t)
		b = append(b, 0x61, 'v')
		b = appendLink(b, e.v)
	}
	return appendNodeTail(b, left)
}

// fixtureNodes returns every node block of the trees in the commit-proof
// fixtures, before and after.
func fixtureNodes(t testing.TB) [][]byte {
	t.Helper()
	var fixtures []proofFixture
	readJSON(t, "firehose/commit-proof-fixtures.json", &fixtures)
	bs := MemBlocks{}
	for _, f := range fixtures {
		leaf := cid.MustDecode(f.LeafValue)
		tr := New()
		for _, k := range f.Keys {
			ok(t)(tr.Put(k, leaf))
		}
		commit(t, tr, bs)
		for _, k := range f.Adds {
			ok(t)(tr.Put(k, leaf))
		}
		for _, k := range f.Dels {
			ok(t)(tr.Delete(k))
		}
		commit(t, tr, bs)
	}
	var out [][]byte
	for _, b := range bs {
		out = append(out, b)
	}
	return out
}

func TestNodeRoundTrip(t *testing.T) {
	t.Parallel()
	nodes := fixtureNodes(t)
	_, bs, _ := build(t, func() map[string]cid.CID {
		m := map[string]cid.CID{}
		for i, k := range realisticKeys(31, 3000) {
			m[k] = fakeCID(i)
		}
		return m
	}())
	for _, b := range bs {
		nodes = append(nodes, b)
	}
	var reused NodeData
	for _, b := range nodes {
		n, err := DecodeNode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(n.Encode(), b) {
			t.Fatalf("node does not re-encode identically:\n%x\n%x", b, n.Encode())
		}
		if err := reused.Decode(b); err != nil || !bytes.Equal(reused.Encode(), b) {
			t.Fatalf("reused decoder: %v", err)
		}
	}
	if n, err := DecodeNode([]byte(emptyNode)); err != nil || len(n.Entries) != 0 || n.Left.Defined() || n.Layer() != -1 {
		t.Fatalf("empty node: %+v %v", n, err)
	}
}

func TestDecodeKeysStayValid(t *testing.T) {
	t.Parallel()
	// Many long keys force the key buffer to grow mid-decode.
	v := fakeCID(1)
	var es []rawEntry
	prev := ""
	for i := 0; len(es) < 40; i++ {
		k := fmt.Sprintf("%s/%04d", strings.Repeat("x", 200), i)
		if Height([]byte(k)) != 0 {
			continue
		}
		p := commonPrefix(prev, k)
		es = append(es, rawEntry{k: k[p:], p: p, v: v})
		prev = k
	}
	b := rawNode(cid.Undef, es...)
	n, err := DecodeNode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(n.Encode(), b) || !strings.HasSuffix(string(n.Entries[0].Key), "/0000") {
		t.Fatal("keys corrupted by buffer growth")
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	v, sub := fakeCID(1), cid.Sum(cid.DagCBOR, []byte("subtree"))
	raw := cid.Sum(cid.Raw, []byte("blob"))
	a0 := keyOfHeight(0, "k/a", "")
	b0 := keyOfHeight(0, "k/b", "")
	c1 := keyOfHeight(1, "k/c", "")
	// Two height-0 keys with a shared prefix, for p cases.
	p0 := keyOfHeight(0, "k/p", "")
	p1 := keyOfHeight(0, "k/p", p0)
	shared := commonPrefix(p0, p1)
	good := rawNode(cid.Undef, rawEntry{k: a0, v: v}, rawEntry{k: b0[2:], p: 2, v: v})
	if _, err := DecodeNode(good); err != nil {
		t.Fatalf("control node: %v", err)
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"unsorted keys", rawNode(cid.Undef, rawEntry{k: b0, v: v}, rawEntry{k: a0[2:], p: 2, v: v})},
		{"duplicate key", rawNode(cid.Undef, rawEntry{k: a0, v: v}, rawEntry{k: "", p: len(a0), v: v})},
		{"key that is a prefix of the previous", rawNode(cid.Undef, rawEntry{k: a0, v: v}, rawEntry{k: "", p: 2, v: v})},
		{"mixed heights", rawNode(cid.Undef, rawEntry{k: a0, v: v}, rawEntry{k: c1[2:], p: 2, v: v})},
		{"p beyond previous key", rawNode(cid.Undef, rawEntry{k: a0, v: v}, rawEntry{k: "x", p: len(a0) + 1, v: v})},
		{"p on first entry", rawNode(cid.Undef, rawEntry{k: a0[1:], p: 1, v: v})},
		{"p not the whole shared prefix", rawNode(cid.Undef, rawEntry{k: p0, v: v}, rawEntry{k: p1[shared-1:], p: shared - 1, v: v})},
		{"empty key", rawNode(cid.Undef, rawEntry{k: "", v: v})},
		{"key too long", rawNode(cid.Undef, rawEntry{k: strings.Repeat("k", MaxKeyLen+1), v: v})},
		{"layer 0 with left", rawNode(sub, rawEntry{k: a0, v: v})},
		{"layer 0 with right", rawNode(cid.Undef, rawEntry{k: a0, v: v, t: sub})},
		{"null value", rawNode(cid.Undef, rawEntry{k: a0})},
		{"raw subtree link", rawNode(cid.Undef, rawEntry{k: c1, v: v, t: raw})},
		{"raw left link", rawNode(raw, rawEntry{k: c1, v: v})},
		{"extra node key", append([]byte{0xa3}, append(good[1:], 0x61, 'z', 0xf6)...)},
		{"missing node key l", append([]byte{0xa1}, good[1:len(good)-3]...)},
		{"node keys out of order", append([]byte("\xa2\x61l\xf6\x61e"), good[3:len(good)-3]...)},
		{"extra entry key", bytes.Replace(good, []byte("\xa4\x61k"), []byte("\xa5\x61k"), 1)},
		{"missing entry key t", bytes.Replace(rawNode(cid.Undef, rawEntry{k: a0, v: v}), []byte("\xa4\x61k"), []byte("\xa3\x61k"), 1)},
		{"non-canonical count", append([]byte("\xa2\x61e\x98\x01"), good[4:]...)},
		{"non-canonical p", bytes.Replace(good, []byte("\x61p\x02"), []byte("\x61p\x18\x02"), 1)},
		{"non-canonical length", bytes.Replace(rawNode(cid.Undef, rawEntry{k: "ab", v: v}), []byte("\x61k\x42"), []byte("\x61k\x58\x02"), 1)},
		{"indefinite array", append([]byte("\xa2\x61e\x9f"), good[4:]...)},
		{"too many entries", appendHead([]byte("\xa2\x61e"), majorArray, MaxEntries+1)},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"key as text", bytes.Replace(good, []byte{0x61, 'k', 0x40 + byte(len(a0))}, []byte{0x61, 'k', 0x60 + byte(len(a0))}, 1)},
		{"link without tag", bytes.Replace(good, []byte("\x61v\xd8\x2a"), []byte("\x61v\xd8\x2b"), 1)},
		{"CIDv0 link", bytes.Replace(good, []byte("\x61v\xd8\x2a\x58\x25\x00\x01"), []byte("\x61v\xd8\x2a\x58\x25\x00\x12"), 1)},
		{"empty input", nil},
	}
	for _, c := range cases {
		if bytes.Equal(c.b, good) {
			t.Fatalf("%s: the case did not change the control node", c.name)
		}
		if n, err := DecodeNode(c.b); !errors.Is(err, ErrInvalidNode) {
			t.Errorf("%s: got %+v, %v; want ErrInvalidNode", c.name, n, err)
		}
	}
	for i := range good {
		if _, err := DecodeNode(good[:i]); !errors.Is(err, ErrInvalidNode) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
}

// TestLoadRejects builds small block stores whose nodes are each valid alone
// but do not form a valid tree.
func TestLoadRejects(t *testing.T) {
	t.Parallel()
	v := fakeCID(1)
	k0 := keyOfHeight(0, "k/a", "")
	k1 := keyOfHeight(1, "k/m", "")
	k0hi := keyOfHeight(0, "k/z", "")
	k2 := keyOfHeight(2, "k/a", "")
	put := func(bs MemBlocks, b []byte) cid.CID {
		c := cid.Sum(cid.DagCBOR, b)
		bs[c] = b
		return c
	}
	type setup func(bs MemBlocks) cid.CID
	cases := []struct {
		name string
		root setup
	}{
		{"empty node below the root", func(bs MemBlocks) cid.CID {
			e := put(bs, []byte(emptyNode))
			return put(bs, rawNode(e, rawEntry{k: k1, v: v}))
		}},
		{"root with only a left link", func(bs MemBlocks) cid.CID {
			l := put(bs, rawNode(cid.Undef, rawEntry{k: k0, v: v}))
			return put(bs, rawNode(l))
		}},
		{"child one layer too high", func(bs MemBlocks) cid.CID {
			l := put(bs, rawNode(cid.Undef, rawEntry{k: keyOfHeight(1, "k/a", ""), v: v}))
			return put(bs, rawNode(l, rawEntry{k: k1, v: v}))
		}},
		{"child skipping a layer", func(bs MemBlocks) cid.CID {
			l := put(bs, rawNode(cid.Undef, rawEntry{k: k0, v: v}))
			return put(bs, rawNode(l, rawEntry{k: k2, v: v}))
		}},
		{"left child key after the entry", func(bs MemBlocks) cid.CID {
			l := put(bs, rawNode(cid.Undef, rawEntry{k: k0hi, v: v}))
			return put(bs, rawNode(l, rawEntry{k: k1, v: v}))
		}},
		{"right child key before the entry", func(bs MemBlocks) cid.CID {
			r := put(bs, rawNode(cid.Undef, rawEntry{k: k0, v: v}))
			return put(bs, rawNode(cid.Undef, rawEntry{k: k1, v: v, t: r}))
		}},
		{"entry-less layer-0 node", func(bs MemBlocks) cid.CID {
			low := put(bs, rawNode(cid.Undef, rawEntry{k: k0, v: v}))
			mid := put(bs, rawNode(low))
			return put(bs, rawNode(mid, rawEntry{k: k1, v: v}))
		}},
		{"block not matching its CID", func(bs MemBlocks) cid.CID {
			l := put(bs, rawNode(cid.Undef, rawEntry{k: k0, v: v}))
			bs[l] = rawNode(cid.Undef, rawEntry{k: keyOfHeight(0, "k/b", ""), v: v})
			return put(bs, rawNode(l, rawEntry{k: k1, v: v}))
		}},
		{"raw root CID", func(bs MemBlocks) cid.CID {
			b := rawNode(cid.Undef, rawEntry{k: k0, v: v})
			c := cid.Sum(cid.Raw, b)
			bs[c] = b
			return c
		}},
	}
	for _, c := range cases {
		bs := MemBlocks{}
		root := c.root(bs)
		err := Load(bs, root).Walk(func(string, cid.CID) error { return nil })
		if !errors.Is(err, ErrInvalidNode) {
			t.Errorf("%s: Walk: %v", c.name, err)
		}
		if _, err := Diff(bs, cid.Undef, root); !errors.Is(err, ErrInvalidNode) {
			t.Errorf("%s: Diff: %v", c.name, err)
		}
	}
}

func TestDecodeRandomBytes(t *testing.T) {
	t.Parallel()
	// Mutations of a real node: every outcome is an error or a node that
	// re-encodes identically.
	nodes := fixtureNodes(t)
	r := rand.New(rand.NewPCG(41, 42))
	for range 20000 {
		b := bytes.Clone(nodes[r.IntN(len(nodes))])
		for range 1 + r.IntN(3) {
			b[r.IntN(len(b))] = byte(r.Uint32())
		}
		n, err := DecodeNode(b)
		if err == nil && !bytes.Equal(n.Encode(), b) {
			t.Fatalf("accepted bytes that re-encode differently: %x", b)
		}
		if err != nil && !errors.Is(err, ErrInvalidNode) {
			t.Fatalf("error without ErrInvalidNode: %v", err)
		}
	}
}
