package mst

import (
	"errors"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// TestInvertRandom: for random commits, the proof blocks alone let Invert
// recompute the old root, and each proof block is needed.
func TestInvertRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(21, 22))
	for round := range 150 {
		_, _, bs, ra, rb := randomPair(t, r)
		changes, err := Diff(bs, ra, rb)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := ProofBlocks(bs, rb, changes)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) == 0 {
			// Nothing to undo: nothing to read, and the root stays.
			if got, err := Invert(MemBlocks{}, rb, nil); len(proof) != 0 || err != nil || got != ra {
				t.Fatalf("round %d: empty commit: proof %v, invert %s %v", round, proof, got, err)
			}
			continue
		}
		if proof[0] != rb {
			t.Fatalf("round %d: proof does not start at the root: %v", round, proof)
		}
		slice := MemBlocks{}
		for _, c := range proof {
			slice[c] = bs[c]
		}
		// Shuffled input: Invert orders the changes itself.
		r.Shuffle(len(changes), func(i, j int) { changes[i], changes[j] = changes[j], changes[i] })
		for _, inv := range []func(BlockGetter, cid.CID, []Change) (cid.CID, error){Invert, InvertLenient} {
			if got, err := inv(slice, rb, changes); err != nil || got != ra {
				t.Fatalf("round %d: invert gave %s, %v; want %s", round, got, err, ra)
			}
		}
		if round%5 != 0 {
			continue
		}
		for _, c := range proof {
			short := maps.Clone(slice)
			delete(short, c)
			if _, err := Invert(short, rb, changes); !errors.Is(err, ErrMissingBlock) {
				t.Fatalf("round %d: invert without %s: %v", round, c, err)
			}
		}
	}
}

func TestInvertMismatch(t *testing.T) {
	t.Parallel()
	m := map[string]cid.CID{}
	for i, k := range randomKeys(rand.New(rand.NewPCG(23, 24)), 50) {
		m[k] = fakeCID(i)
	}
	_, bs, root := build(t, m)
	var present, other string
	for k := range m {
		if present == "" {
			present = k
		} else if other == "" {
			other = k
		}
	}
	absent := "zz/absent"
	cases := []struct {
		name    string
		changes []Change
	}{
		{"create of a key with another value", []Change{{Key: present, New: fakeCID(-1)}}},
		{"create of an absent key", []Change{{Key: absent, New: fakeCID(1)}}},
		{"update with the wrong new value", []Change{{Key: present, Old: fakeCID(1), New: fakeCID(-1)}}},
		{"delete of a key still there", []Change{{Key: present, Old: fakeCID(1)}}},
		{"key twice", []Change{{Key: absent, Old: fakeCID(1)}, {Key: absent, Old: fakeCID(2)}}},
		{"neither side", []Change{{Key: absent}}},
		{"second change wrong", []Change{{Key: present, Old: fakeCID(5), New: m[present]}, {Key: other, New: fakeCID(-2)}}},
	}
	for _, c := range cases {
		for _, inv := range []func(BlockGetter, cid.CID, []Change) (cid.CID, error){Invert, InvertLenient} {
			if got, err := inv(bs, root, c.changes); !errors.Is(err, ErrInversion) {
				t.Errorf("%s: got %s, %v; want ErrInversion", c.name, got, err)
			}
		}
		if _, err := ProofBlocks(bs, root, c.changes); !errors.Is(err, ErrInversion) {
			t.Errorf("%s: ProofBlocks: %v", c.name, err)
		}
	}
	// A valid update round-trips.
	got, err := Invert(bs, root, []Change{{Key: present, Old: fakeCID(99), New: m[present]}})
	m[present] = fakeCID(99)
	if err != nil || got != refRoot(m) {
		t.Fatalf("update inversion: %s %v", got, err)
	}
}

// TestInvertToEmpty undoes the creation of every key of a small repo, and the
// deletion of every key from an emptied one.
func TestInvertToEmpty(t *testing.T) {
	t.Parallel()
	m := map[string]cid.CID{"A2/827942": fakeCID(1), "A0/374913": fakeCID(2), "B1/986427": fakeCID(3)}
	_, bs, root := build(t, m)
	created := bruteDiff(nil, m)
	if got, err := Invert(bs, root, created); err != nil || got != EmptyRoot {
		t.Fatalf("undo creations: %s %v", got, err)
	}
	bs[EmptyRoot] = []byte(emptyNode)
	proof, err := ProofBlocks(bs, EmptyRoot, bruteDiff(m, nil))
	if err != nil || len(proof) != 1 || proof[0] != EmptyRoot {
		t.Fatalf("proof of emptying: %v %v", proof, err)
	}
	if got, err := Invert(MemBlocks{EmptyRoot: bs[EmptyRoot]}, EmptyRoot, bruteDiff(m, nil)); err != nil || got != root {
		t.Fatalf("undo deletions: %s %v, want %s", got, err, root)
	}
}
