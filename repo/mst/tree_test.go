package mst

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// refRoot builds the root CID of m straight from the spec's recursive
// definition (protocol notes §4.3), independently of Tree.
func refRoot(m map[string]cid.CID) cid.CID {
	if len(m) == 0 {
		return EmptyRoot
	}
	keys := slices.Sorted(maps.Keys(m))
	top := 0
	for _, k := range keys {
		top = max(top, Height([]byte(k)))
	}
	return refNode(keys, m, top)
}

func refNode(keys []string, m map[string]cid.CID, layer int) cid.CID {
	var nd NodeData
	var seg []string
	attach := func() {
		var c cid.CID
		if len(seg) > 0 {
			c = refNode(seg, m, layer-1)
			seg = nil
		}
		if len(nd.Entries) == 0 {
			nd.Left = c
		} else {
			nd.Entries[len(nd.Entries)-1].Right = c
		}
	}
	for _, k := range keys {
		if Height([]byte(k)) < layer {
			seg = append(seg, k)
			continue
		}
		attach()
		nd.Entries = append(nd.Entries, EntryData{Key: []byte(k), Value: m[k]})
	}
	attach()
	return cid.Sum(cid.DagCBOR, nd.Encode())
}

func TestEmptyRoot(t *testing.T) {
	t.Parallel()
	const want = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
	if EmptyRoot.String() != want {
		t.Fatalf("EmptyRoot = %s, want %s", EmptyRoot, want)
	}
	if got, err := New().Root(); err != nil || got != EmptyRoot {
		t.Fatalf("New().Root() = %s, %v", got, err)
	}
	bs := MemBlocks{}
	if got := commit(t, New(), bs); got != EmptyRoot || len(bs) != 1 || string(bs[EmptyRoot]) != emptyNode {
		t.Fatalf("empty tree wrote %v, root %s", bs, got)
	}
	tr := Load(bs, EmptyRoot)
	if v, ok, err := tr.Get("a/b"); err != nil || ok || v.Defined() {
		t.Fatalf("Get on empty loaded tree: %s %v %v", v, ok, err)
	}
	if got := commit(t, tr, MemBlocks{}); got != EmptyRoot {
		t.Fatalf("loaded empty tree root %s", got)
	}
}

// TestKnownMaps checks root CIDs published with the reference
// implementations' MST tests (atproto mst.test.ts, indigo mst_interop_test.go).
func TestKnownMaps(t *testing.T) {
	t.Parallel()
	v := cid.MustDecode("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")
	const p = "com.example.record/"
	cases := []struct {
		keys []string
		root string
	}{
		{[]string{"3jqfcqzm3fo2j"}, "bafyreibj4lsc3aqnrvphp5xmrnfoorvru4wynt6lwidqbm2623a6tatzdu"},
		{[]string{"3jqfcqzm3fx2j"}, "bafyreih7wfei65pxzhauoibu3ls7jgmkju4bspy4t2ha2qdjnzqvoy33ai"},
		{[]string{"3jqfcqzm3fp2j", "3jqfcqzm3fr2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm4fc2j"},
			"bafyreicmahysq4n6wfuxo522m6dpiy7z7qzym3dzs756t5n7nfdgccwq7m"},
		// "trims top of tree on delete": before and after removing 3jqfcqzm3fs2j.
		{[]string{"3jqfcqzm3fn2j", "3jqfcqzm3fo2j", "3jqfcqzm3fp2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm3fu2j"},
			"bafyreifnqrwbk6ffmyaz5qtujqrzf5qmxf7cbxvgzktl4e3gabuxbtatv4"},
		{[]string{"3jqfcqzm3fn2j", "3jqfcqzm3fo2j", "3jqfcqzm3fp2j", "3jqfcqzm3ft2j", "3jqfcqzm3fu2j"},
			"bafyreie4kjuxbwkhzg2i5dljaswcroeih4dgiqq6pazcmunwt2byd725vi"},
		// "handles insertion that splits two layers down": without and with 3jqfcqzm3fx2j.
		{[]string{"3jqfcqzm3fo2j", "3jqfcqzm3fp2j", "3jqfcqzm3fr2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm3fz2j",
			"3jqfcqzm4fc2j", "3jqfcqzm4fd2j", "3jqfcqzm4ff2j", "3jqfcqzm4fg2j", "3jqfcqzm4fh2j"},
			"bafyreiettyludka6fpgp33stwxfuwhkzlur6chs4d2v4nkmq2j3ogpdjem"},
		{[]string{"3jqfcqzm3fo2j", "3jqfcqzm3fp2j", "3jqfcqzm3fr2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm3fz2j",
			"3jqfcqzm4fc2j", "3jqfcqzm4fd2j", "3jqfcqzm4ff2j", "3jqfcqzm4fg2j", "3jqfcqzm4fh2j", "3jqfcqzm3fx2j"},
			"bafyreid2x5eqs4w4qxvc5jiwda4cien3gw2q6cshofxwnvv7iucrmfohpm"},
		// "handles new layers that are two higher than existing".
		{[]string{"3jqfcqzm3ft2j", "3jqfcqzm3fz2j"}, "bafyreidfcktqnfmykz2ps3dbul35pepleq7kvv526g47xahuz3rqtptmky"},
		{[]string{"3jqfcqzm3ft2j", "3jqfcqzm3fz2j", "3jqfcqzm3fx2j"}, "bafyreiavxaxdz7o7rbvr3zg2liox2yww46t7g6hkehx4i4h3lwudly7dhy"},
		{[]string{"3jqfcqzm3ft2j", "3jqfcqzm3fz2j", "3jqfcqzm3fx2j", "3jqfcqzm4fd2j"},
			"bafyreig4jv3vuajbsybhyvb7gggvpwh2zszwfyttjrj6qwvcsp24h6popu"},
	}
	for _, c := range cases {
		m := map[string]cid.CID{}
		for _, k := range c.keys {
			m[p+k] = v
		}
		_, _, got := build(t, m)
		if got.String() != c.root {
			t.Errorf("%v: root %s, want %s", c.keys, got, c.root)
		}
		if ref := refRoot(m); ref.String() != c.root {
			t.Errorf("%v: reference root %s, want %s", c.keys, ref, c.root)
		}
	}
}

// randomKeys returns n distinct short keys; short keys give every height a
// fair share of a small tree.
func randomKeys(r *rand.Rand, n int) []string {
	seen := map[string]bool{}
	var keys []string
	for len(keys) < n {
		k := fmt.Sprintf("c%d/%x", r.IntN(3), r.Uint32N(1<<20))
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// TestOrderIndependence inserts random key sets in random orders, with values
// overwritten along the way, and deletes them again in random order: every
// intermediate root must equal the spec-built root of the current map, and
// the end is the empty root.
func TestOrderIndependence(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 40 {
		keys := randomKeys(r, 1+r.IntN(120))
		m := map[string]cid.CID{}
		tr := New()
		check := func(what string) {
			t.Helper()
			got, err := tr.Root()
			if err != nil {
				t.Fatal(err)
			}
			if want := refRoot(m); got != want {
				t.Fatalf("round %d, %s: root %s, want %s", round, what, got, want)
			}
		}
		for i, k := range keys {
			prev, err := tr.Put(k, fakeCID(i))
			if err != nil || prev != m[k] {
				t.Fatalf("put %s: prev %s err %v", k, prev, err)
			}
			m[k] = fakeCID(i)
			if r.IntN(4) == 0 {
				check("insert " + k)
			}
		}
		for _, i := range r.Perm(len(keys))[:len(keys)/3] {
			k := keys[i]
			prev, err := tr.Put(k, fakeCID(-i))
			if err != nil || prev != m[k] {
				t.Fatalf("update %s: prev %s err %v", k, prev, err)
			}
			m[k] = fakeCID(-i)
		}
		check("updates")
		if !maps.Equal(contents(t, tr), m) {
			t.Fatalf("round %d: walk differs from map", round)
		}
		for _, i := range r.Perm(len(keys)) {
			k := keys[i]
			prev, err := tr.Delete(k)
			if err != nil || prev != m[k] {
				t.Fatalf("delete %s: prev %s err %v", k, prev, err)
			}
			delete(m, k)
			if r.IntN(4) == 0 {
				check("delete " + k)
			}
			if prev, err := tr.Delete(k); err != nil || prev.Defined() {
				t.Fatalf("second delete of %s: %s %v", k, prev, err)
			}
		}
		if got, _ := tr.Root(); got != EmptyRoot {
			t.Fatalf("round %d: emptied tree has root %s", round, got)
		}
	}
}

// TestDeleteLastThenCreate is the sequence that trips indigo: a repo's only
// record deleted, then a new one created.
func TestDeleteLastThenCreate(t *testing.T) {
	t.Parallel()
	// Keys of height 2 and 0, so a stale root layer would show.
	hi, lo := "A2/827942", "A0/374913"
	for _, first := range []string{hi, lo} {
		for _, second := range []string{hi, lo} {
			tr := New()
			ok(t)(tr.Put(first, fakeCID(1)))
			ok(t)(tr.Delete(first))
			ok(t)(tr.Put(second, fakeCID(2)))
			got, _ := tr.Root()
			if want := refRoot(map[string]cid.CID{second: fakeCID(2)}); got != want {
				t.Errorf("%s then %s: root %s, want %s", first, second, got, want)
			}
		}
	}
}

// ok returns a check for the (prev, err) result of an edit.
func ok(t testing.TB) func(cid.CID, error) {
	return func(_ cid.CID, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestWalk(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	keys := randomKeys(r, 300)
	m := map[string]cid.CID{}
	for i, k := range keys {
		m[k] = fakeCID(i)
	}
	_, bs, root := build(t, m)
	sorted := slices.Sorted(maps.Keys(m))
	tr := Load(bs, root)
	var got []string
	if err := tr.Walk(func(k string, v cid.CID) error {
		if v != m[k] {
			return fmt.Errorf("value of %s", k)
		}
		got = append(got, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, sorted) {
		t.Fatal("Walk is not the sorted key list")
	}
	// From every key, from between keys, from before all and after all.
	starts := append(slices.Clone(sorted), "", "a", "c0/", "c1/0", "zzz")
	for _, s := range starts {
		got = got[:0]
		if err := Load(bs, root).WalkFrom(s, func(k string, _ cid.CID) error {
			got = append(got, k)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		i, _ := slices.BinarySearch(sorted, s)
		if !slices.Equal(got, sorted[i:]) {
			t.Fatalf("WalkFrom(%q) gave %d keys, want %d", s, len(got), len(sorted)-i)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := tr.Walk(func(string, cid.CID) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("stopping walk: %v after %d", err, n)
	}
}

// reachable returns every node CID of the tree at root in bs.
func reachable(t testing.TB, bs MemBlocks, root cid.CID) map[cid.CID]bool {
	t.Helper()
	out := map[cid.CID]bool{}
	var visit func(c cid.CID)
	visit = func(c cid.CID) {
		if !c.Defined() || out[c] {
			return
		}
		out[c] = true
		nd, err := DecodeNode(bs[c])
		if err != nil {
			t.Fatalf("node %s: %v", c, err)
		}
		visit(nd.Left)
		for _, e := range nd.Entries {
			visit(e.Right)
		}
	}
	visit(root)
	return out
}

// TestLoadRoundTrip loads trees from the blocks WriteBlocks wrote, edits them
// lazily and checks that WriteBlocks then hands out exactly the new nodes.
func TestLoadRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 20 {
		keys := randomKeys(r, 1+r.IntN(200))
		m := map[string]cid.CID{}
		for i, k := range keys {
			m[k] = fakeCID(i)
		}
		_, bs, root := build(t, m)
		if !maps.Equal(reachable(t, bs, root), keysOf(bs)) {
			t.Fatalf("round %d: the first write is not exactly the tree's nodes", round)
		}
		tr := Load(bs, root)
		if got, err := tr.Root(); err != nil || got != root {
			t.Fatalf("loaded root %s %v", got, err)
		}
		for _, k := range keys[:min(len(keys), 20)] {
			if v, ok, err := tr.Get(k); err != nil || !ok || v != m[k] {
				t.Fatalf("Get(%s) = %s %v %v", k, v, ok, err)
			}
		}
		if !maps.Equal(contents(t, tr), m) {
			t.Fatalf("round %d: loaded contents differ", round)
		}
		// Edit a fresh lazy load, then write into a separate store.
		tr = Load(bs, root)
		for i := range 1 + r.IntN(10) {
			k := keys[r.IntN(len(keys))]
			switch r.IntN(3) {
			case 0:
				ok(t)(tr.Delete(k))
				delete(m, k)
			case 1:
				ok(t)(tr.Put(k, fakeCID(1000+i)))
				m[k] = fakeCID(1000 + i)
			default:
				nk := fmt.Sprintf("n%d/%d", round, i)
				ok(t)(tr.Put(nk, fakeCID(2000+i)))
				m[nk] = fakeCID(2000 + i)
			}
		}
		written := MemBlocks{}
		newRoot := commit(t, tr, written)
		if newRoot != refRoot(m) {
			t.Fatalf("round %d: edited root differs from the reference", round)
		}
		maps.Copy(bs, written)
		wantNew := reachable(t, bs, newRoot)
		for c := range reachable(t, bs, root) {
			delete(wantNew, c)
		}
		if len(m) == 0 {
			wantNew = map[cid.CID]bool{EmptyRoot: true}
		}
		if !maps.Equal(keysOf(written), wantNew) {
			t.Fatalf("round %d: wrote %d blocks, want exactly the %d new nodes", round, len(written), len(wantNew))
		}
		again := MemBlocks{}
		commit(t, tr, again)
		if len(again) != 0 {
			t.Fatalf("second WriteBlocks wrote %d blocks", len(again))
		}
	}
}

func keysOf(bs MemBlocks) map[cid.CID]bool {
	out := map[cid.CID]bool{}
	for c := range bs {
		out[c] = true
	}
	return out
}

func TestWriteBlocksRetry(t *testing.T) {
	t.Parallel()
	tr := New()
	for i, k := range randomKeys(rand.New(rand.NewPCG(7, 8)), 100) {
		ok(t)(tr.Put(k, fakeCID(i)))
	}
	fail := errors.New("disk full")
	bs := MemBlocks{}
	n := 0
	err := tr.WriteBlocks(func(c cid.CID, b []byte) error {
		if n++; n == 5 {
			return fail
		}
		return bs.Put(c, b)
	})
	if !errors.Is(err, fail) {
		t.Fatalf("got %v", err)
	}
	root := commit(t, tr, bs)
	if !maps.Equal(reachable(t, bs, root), keysOf(bs)) {
		t.Fatal("retried write is not exactly the tree's nodes")
	}
}

func TestPartialTree(t *testing.T) {
	t.Parallel()
	keys := realisticKeys(9, 2000)
	m := map[string]cid.CID{}
	for i, k := range keys {
		m[k] = fakeCID(i)
	}
	_, bs, root := build(t, m)
	// Keep only the root: anything below it is missing.
	only := MemBlocks{root: bs[root]}
	tr := Load(only, root)
	_, _, err := tr.Get(keys[0])
	if !errors.Is(err, ErrMissingBlock) {
		t.Fatalf("Get on a partial tree: %v", err)
	}
	if err := tr.Walk(func(string, cid.CID) error { return nil }); !errors.Is(err, ErrMissingBlock) {
		t.Fatalf("Walk on a partial tree: %v", err)
	}
	if _, err := tr.Put("zzz/new", fakeCID(1)); !errors.Is(err, ErrMissingBlock) {
		t.Fatalf("Put on a partial tree: %v", err)
	}
	// The failed Put changed nothing.
	if got, err := tr.Root(); err != nil || got != root {
		t.Fatalf("root after failed put: %s %v", got, err)
	}
	if _, _, err := Load(MemBlocks{}, root).Get("x"); !errors.Is(err, ErrMissingBlock) {
		t.Fatalf("missing root: %v", err)
	}
	if _, _, err := Load(nil, root).Get("x"); !errors.Is(err, ErrMissingBlock) {
		t.Fatalf("no block source: %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	t.Parallel()
	tr := New()
	long := string(make([]byte, MaxKeyLen+1))
	for _, k := range []string{"", long} {
		if _, err := tr.Put(k, fakeCID(1)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%d bytes): %v", len(k), err)
		}
		if _, err := tr.Delete(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%d bytes): %v", len(k), err)
		}
	}
	if _, err := tr.Put("a/b", cid.Undef); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Put(undefined): %v", err)
	}
	if _, err := tr.Put(string(make([]byte, MaxKeyLen)), fakeCID(1)); err != nil {
		t.Errorf("Put(max length key): %v", err)
	}
}
