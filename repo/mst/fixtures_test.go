package mst

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

type proofFixture struct {
	Comment       string   `json:"comment"`
	LeafValue     string   `json:"leafValue"`
	Keys          []string `json:"keys"`
	Adds          []string `json:"adds"`
	Dels          []string `json:"dels"`
	RootBefore    string   `json:"rootBeforeCommit"`
	RootAfter     string   `json:"rootAfterCommit"`
	BlocksInProof []string `json:"blocksInProof"`
}

// TestCommitProofFixtures asserts every case of
// firehose/commit-proof-fixtures.json: both roots, the diff, the exact proof
// block set, inversion from the proof blocks alone, and that each proof block
// is needed.
func TestCommitProofFixtures(t *testing.T) {
	t.Parallel()
	var fixtures []proofFixture
	readJSON(t, "firehose/commit-proof-fixtures.json", &fixtures)
	if len(fixtures) != 6 {
		t.Fatalf("want 6 fixtures, got %d", len(fixtures))
	}
	for _, f := range fixtures {
		t.Run(f.Comment, func(t *testing.T) {
			t.Parallel()
			checkProofFixture(t, f)
		})
	}
}

func checkProofFixture(t *testing.T, f proofFixture) {
	leaf := cid.MustDecode(f.LeafValue)
	before, after := cid.MustDecode(f.RootBefore), cid.MustDecode(f.RootAfter)
	bs := MemBlocks{}
	tr := New()
	for _, k := range f.Keys {
		if _, err := tr.Put(k, leaf); err != nil {
			t.Fatal(err)
		}
	}
	if got := commit(t, tr, bs); got != before {
		t.Fatalf("root before: got %s, want %s", got, before)
	}

	// Apply the commit on a tree loaded lazily from the blocks just written.
	tr = Load(bs, before)
	var want []Change
	for _, k := range f.Adds {
		if prev, err := tr.Put(k, leaf); err != nil || prev.Defined() {
			t.Fatalf("add %s: prev %s, err %v", k, prev, err)
		}
		want = append(want, Change{Key: k, New: leaf})
	}
	for _, k := range f.Dels {
		if prev, err := tr.Delete(k); err != nil || prev != leaf {
			t.Fatalf("delete %s: prev %s, err %v", k, prev, err)
		}
		want = append(want, Change{Key: k, Old: leaf})
	}
	if got := commit(t, tr, bs); got != after {
		t.Fatalf("root after: got %s, want %s", got, after)
	}
	slices.SortFunc(want, func(a, b Change) int { return strings.Compare(a.Key, b.Key) })

	got, err := Diff(bs, before, after)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("diff: got %v, want %v", got, want)
	}

	proof, err := ProofBlocks(bs, after, want)
	if err != nil {
		t.Fatal(err)
	}
	wantProof := map[cid.CID]bool{}
	for _, s := range f.BlocksInProof {
		wantProof[cid.MustDecode(s)] = true
	}
	gotProof := map[cid.CID]bool{}
	for _, c := range proof {
		gotProof[c] = true
	}
	if len(proof) != len(gotProof) || !maps.Equal(gotProof, wantProof) {
		t.Fatalf("proof blocks: got %v, want %v", proof, f.BlocksInProof)
	}

	slice := MemBlocks{}
	for c := range wantProof {
		slice[c] = bs[c]
	}
	for _, inv := range []func(BlockGetter, cid.CID, []Change) (cid.CID, error){Invert, InvertLenient} {
		if got, err := inv(slice, after, want); err != nil || got != before {
			t.Fatalf("invert from the proof blocks: got %s, %v; want %s", got, err, before)
		}
	}
	for c := range wantProof {
		short := maps.Clone(slice)
		delete(short, c)
		got, err := Invert(short, after, want)
		if !errors.Is(err, ErrMissingBlock) || !strings.Contains(err.Error(), c.String()) {
			t.Errorf("invert without %s: got %s, %v; want ErrMissingBlock naming it", c, got, err)
		}
	}
}
