package mst

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// bruteDiff compares two maps key by key.
func bruteDiff(a, b map[string]cid.CID) []Change {
	var out []Change
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if b[k] != a[k] {
			out = append(out, Change{Key: k, Old: a[k], New: b[k]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			out = append(out, Change{Key: k, New: b[k]})
		}
	}
	slices.SortFunc(out, func(x, y Change) int { return strings.Compare(x.Key, y.Key) })
	return out
}

// mutate applies n random creates, updates and deletes to a copy of m.
func mutate(r *rand.Rand, m map[string]cid.CID, n int) map[string]cid.CID {
	out := maps.Clone(m)
	keys := slices.Sorted(maps.Keys(m))
	for i := range n {
		switch {
		case len(keys) == 0 || r.IntN(3) == 0:
			out[fmt.Sprintf("c%d/%x", r.IntN(3), r.Uint32N(1<<20))] = fakeCID(r.IntN(1 << 30))
		case r.IntN(2) == 0:
			delete(out, keys[r.IntN(len(keys))])
		default:
			out[keys[r.IntN(len(keys))]] = fakeCID(-i - 1)
		}
	}
	return out
}

// randomPair returns two related random maps with their trees in one store.
func randomPair(t testing.TB, r *rand.Rand) (a, b map[string]cid.CID, bs MemBlocks, ra, rb cid.CID) {
	a = map[string]cid.CID{}
	for i, k := range randomKeys(r, r.IntN(200)) {
		a[k] = fakeCID(i)
	}
	b = mutate(r, a, r.IntN(30))
	if r.IntN(10) == 0 {
		b = map[string]cid.CID{}
	}
	_, bs, ra = build(t, a)
	_, bsb, rb := build(t, b)
	maps.Copy(bs, bsb)
	return a, b, bs, ra, rb
}

func TestDiffRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	for round := range 200 {
		a, b, bs, ra, rb := randomPair(t, r)
		for _, dir := range []struct {
			x, y   map[string]cid.CID
			rx, ry cid.CID
		}{{a, b, ra, rb}, {b, a, rb, ra}} {
			got, err := Diff(bs, dir.rx, dir.ry)
			if err != nil {
				t.Fatal(err)
			}
			if want := bruteDiff(dir.x, dir.y); !slices.Equal(got, want) {
				t.Fatalf("round %d: diff has %d changes, brute force %d\ngot  %v\nwant %v", round, len(got), len(want), got, want)
			}
		}
	}
}

func TestDiffUndefinedRoots(t *testing.T) {
	t.Parallel()
	m := map[string]cid.CID{"a/1": fakeCID(1), "a/2": fakeCID(2), "b/1": fakeCID(3)}
	_, bs, root := build(t, m)
	created := bruteDiff(nil, m)
	for _, old := range []cid.CID{cid.Undef, EmptyRoot} {
		bs[EmptyRoot] = []byte(emptyNode)
		got, err := Diff(bs, old, root)
		if err != nil || !slices.Equal(got, created) {
			t.Fatalf("Diff(%s, root) = %v, %v", old, got, err)
		}
		got, err = Diff(bs, root, old)
		if err != nil || !slices.Equal(got, bruteDiff(m, nil)) {
			t.Fatalf("Diff(root, %s) = %v, %v", old, got, err)
		}
	}
	if got, err := Diff(bs, root, root); err != nil || len(got) != 0 {
		t.Fatalf("Diff(root, root) = %v, %v", got, err)
	}
	if _, err := Diff(MemBlocks{}, cid.Undef, root); !errors.Is(err, ErrMissingBlock) {
		t.Fatalf("Diff without blocks: %v", err)
	}
}

// countingGetter counts block reads.
type countingGetter struct {
	bg    BlockGetter
	reads int
}

func (c *countingGetter) GetBlock(k cid.CID) ([]byte, bool, error) {
	c.reads++
	return c.bg.GetBlock(k)
}

// TestDiffSkipsEqualSubtrees diffs two 20k-key trees that differ in 10 keys
// and checks that only a small part of them is read.
func TestDiffSkipsEqualSubtrees(t *testing.T) {
	t.Parallel()
	keys := realisticKeys(13, 20000)
	a := map[string]cid.CID{}
	for i, k := range keys {
		a[k] = fakeCID(i)
	}
	b := maps.Clone(a)
	r := rand.New(rand.NewPCG(14, 15))
	for i := range 4 {
		b[keys[r.IntN(len(keys))]] = fakeCID(-1 - i)
		delete(b, keys[r.IntN(len(keys))])
	}
	b["app.bsky.feed.post/zzzzzzzzzzzz1"] = fakeCID(-10)
	b["app.bsky.feed.like/2222222222221"] = fakeCID(-11)
	_, bs, ra := build(t, a)
	_, bsb, rb := build(t, b)
	maps.Copy(bs, bsb)
	cg := &countingGetter{bg: bs}
	got, err := Diff(cg, ra, rb)
	if err != nil {
		t.Fatal(err)
	}
	if want := bruteDiff(a, b); !slices.Equal(got, want) {
		t.Fatalf("diff: got %v, want %v", got, want)
	}
	// Each changed key costs about two root-to-leaf paths (~8 nodes each).
	if total := len(reachable(t, bs, ra)); cg.reads > 250 {
		t.Fatalf("diff read %d nodes of a %d-node tree", cg.reads, total)
	}
	t.Logf("diff read %d nodes", cg.reads)
}
