package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
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

// memRepo is a tree plus the blocks it and its records are stored in.
type memRepo struct {
	blocks mst.MemBlocks
	tree   *mst.Tree
}

func newMemRepo() *memRepo {
	return &memRepo{blocks: mst.MemBlocks{}, tree: mst.New()}
}

func (r *memRepo) root(t testing.TB) cid.CID {
	t.Helper()
	root, err := r.tree.Root()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.tree.WriteBlocks(func(c cid.CID, b []byte) error { r.blocks[c] = b; return nil }); err != nil {
		t.Fatal(err)
	}
	return root
}

// commitTo signs a commit of the repo's current tree and returns the event a
// host would emit for the change from prevData.
func (r *memRepo) commitTo(t testing.TB, key crypto.PrivateKey, rev string, prevData cid.CID) *CommitEvidence {
	t.Helper()
	data := r.root(t)
	ops, err := OpsBetween(r.blocks, prevData, data)
	if err != nil {
		t.Fatal(err)
	}
	c := &Commit{DID: "did:plc:fixture", Version: Version, Data: data, Rev: rev}
	if err := c.Sign(key); err != nil {
		t.Fatal(err)
	}
	id, raw, err := c.Block()
	if err != nil {
		t.Fatal(err)
	}
	slice, err := CommitSlice(id, raw, r.blocks, ops, data)
	if err != nil {
		t.Fatal(err)
	}
	return &CommitEvidence{Repo: c.DID, Rev: rev, Commit: id, PrevData: prevData, Blocks: slice, Ops: ops}
}

func recordBlock(t testing.TB, text string) (cid.CID, []byte) {
	t.Helper()
	b, err := dagcbor.Marshal(map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": "2024-01-01T00:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	return cid.Sum(cid.DagCBOR, b), b
}

// TestCommitProofFixtures builds each interop case as a real signed commit,
// checks that the CAR slice carries exactly the fixture's blocksInProof as its
// MST nodes, that the receiver's check passes, and that it fails cleanly when
// any one of those nodes is missing.
func TestCommitProofFixtures(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../shared/testdata/atproto-interop/firehose/commit-proof-fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures []proofFixture
	if err := json.Unmarshal(raw, &fixtures); err != nil {
		t.Fatal(err)
	}
	if len(fixtures) == 0 {
		t.Fatal("no fixtures")
	}
	for _, fx := range fixtures {
		t.Run(fx.Comment, func(t *testing.T) {
			leaf := cid.MustDecode(fx.LeafValue)
			r := newMemRepo()
			for _, k := range fx.Keys {
				if _, err := r.tree.Put(k, leaf); err != nil {
					t.Fatal(err)
				}
			}
			before := r.root(t)
			if before.String() != fx.RootBefore {
				t.Fatalf("root before = %s, want %s", before, fx.RootBefore)
			}
			for _, k := range fx.Adds {
				if _, err := r.tree.Put(k, leaf); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range fx.Dels {
				if _, err := r.tree.Delete(k); err != nil {
					t.Fatal(err)
				}
			}
			data := r.root(t)
			if data.String() != fx.RootAfter {
				t.Fatalf("root after = %s, want %s", data, fx.RootAfter)
			}
			ops, err := OpsBetween(r.blocks, before, data)
			if err != nil {
				t.Fatal(err)
			}
			if len(ops) != len(fx.Adds)+len(fx.Dels) {
				t.Fatalf("ops %+v, want %d adds and %d dels", ops, len(fx.Adds), len(fx.Dels))
			}
			for _, op := range ops {
				want := Create
				if slices.Contains(fx.Dels, op.Path) {
					want = Delete
				}
				if op.Action != want || !slices.Contains(append(fx.Adds, fx.Dels...), op.Path) {
					t.Fatalf("unexpected op %+v", op)
				}
			}
			// The fixture's leaf value names no block we hold, so the slice
			// cannot carry records: check the MST part of it.
			_, err = CommitSlice(cid.Sum(cid.DagCBOR, nil), nil, r.blocks, ops, data)
			if !errors.Is(err, mst.ErrMissingBlock) {
				t.Fatalf("CommitSlice without the record blocks: %v", err)
			}
			nodes, err := mst.ProofBlocks(r.blocks, data, changesOf(ops))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			proof := mst.MemBlocks{}
			for _, c := range nodes {
				got = append(got, c.String())
				proof[c] = r.blocks[c]
			}
			want := slices.Clone(fx.BlocksInProof)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("proof blocks\n got %v\nwant %v", got, want)
			}
			prev, err := InvertOps(proof, data, ops)
			if err != nil || prev != before {
				t.Fatalf("InvertOps on the proof blocks = %s, %v; want %s", prev, err, before)
			}
			// Without any one proof node, inversion fails cleanly.
			for _, drop := range nodes {
				short := maps.Clone(proof)
				delete(short, drop)
				if _, err := InvertOps(short, data, ops); !errors.Is(err, mst.ErrMissingBlock) {
					t.Fatalf("without %s: got %v, want ErrMissingBlock", drop, err)
				}
			}
			// An op naming another record does not invert to prevData.
			wrong := slices.Clone(ops)
			wrong[0].CID = cid.Sum(cid.DagCBOR, []byte("other"))
			if wrong[0].Action == Delete {
				wrong[0].Prev, wrong[0].CID = wrong[0].CID, cid.Undef
			}
			if got, err := InvertOps(proof, data, wrong); !errors.Is(err, ErrInversion) && got == before {
				t.Fatalf("wrong op cid still inverts to prevData")
			}
		})
	}
}

func changesOf(ops []Op) []mst.Change {
	out := make([]mst.Change, len(ops))
	for i, op := range ops {
		out[i] = op.change()
	}
	return out
}

// TestCommitProofRandomHistory drives a repository through many random
// commits (creates, updates, deletes, several ops each) and runs the
// receiver's full check on every one; then it tampers with ops.
func TestCommitProofRandomHistory(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	key, err := crypto.GenerateP256()
	if err != nil {
		t.Fatal(err)
	}
	r := newMemRepo()
	var paths []string
	prev := cid.Undef
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	for i := range rounds {
		nops := 1 + rng.IntN(5)
		touched := map[string]bool{}
		for range nops {
			switch {
			case len(paths) > 0 && rng.IntN(3) == 0: // delete
				j := rng.IntN(len(paths))
				if touched[paths[j]] {
					continue
				}
				touched[paths[j]] = true
				if _, err := r.tree.Delete(paths[j]); err != nil {
					t.Fatal(err)
				}
				paths = slices.Delete(paths, j, j+1)
			case len(paths) > 0 && rng.IntN(3) == 0: // update
				p := paths[rng.IntN(len(paths))]
				if touched[p] {
					continue
				}
				touched[p] = true
				c, b := recordBlock(t, fmt.Sprintf("update %d %d", i, rng.Int()))
				r.blocks[c] = b
				if _, err := r.tree.Put(p, c); err != nil {
					t.Fatal(err)
				}
			default: // create
				p := fmt.Sprintf("app.bsky.feed.post/%013d", rng.Int64N(1e12))
				if touched[p] || slices.Contains(paths, p) {
					continue
				}
				touched[p] = true
				c, b := recordBlock(t, fmt.Sprintf("post %d %s", i, p))
				r.blocks[c] = b
				if _, err := r.tree.Put(p, c); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
		}
		ev := r.commitTo(t, key, string(syntax.NewTID(1725911162329308+int64(i), 0)), prev)
		if len(ev.Ops) == 0 {
			continue
		}
		if _, err := CheckCommitProof(ev, car.Limits{}); err != nil {
			t.Fatalf("commit %d (%d ops): %v", i, len(ev.Ops), err)
		}
		if prev.Defined() {
			tamper(t, ev)
		}
		prev = ev.PrevData
		prev, _ = r.tree.Root()
	}
}

// tamper checks that the proof check catches ops that misdescribe the diff.
func tamper(t *testing.T, ev *CommitEvidence) {
	t.Helper()
	other, _ := recordBlock(t, "not in the tree")
	check := func(name string, ops []Op, want ...error) {
		bad := *ev
		bad.Ops = ops
		_, err := CheckCommitProof(&bad, car.Limits{})
		for _, w := range want {
			if errors.Is(err, w) {
				return
			}
		}
		t.Fatalf("%s: got %v, want one of %v", name, err, want)
	}
	// An op left out.
	if len(ev.Ops) > 1 {
		check("op dropped", ev.Ops[1:], ErrInversion)
	}
	// A create or update pointing at another record.
	for i, op := range ev.Ops {
		if op.Action != Delete {
			ops := slices.Clone(ev.Ops)
			ops[i].CID = other
			check("wrong cid", ops, ErrMissingRecord, ErrInversion)
			break
		}
	}
	// A delete with the wrong prev.
	for i, op := range ev.Ops {
		if op.Action == Delete {
			ops := slices.Clone(ev.Ops)
			ops[i].Prev = other
			check("wrong delete prev", ops, ErrInversion)
			break
		}
	}
	// The same path twice.
	check("duplicate path", append(slices.Clone(ev.Ops), ev.Ops[0]), ErrBadOps)
}

// TestDeleteOnlyRecordThenCreate walks a history through the empty tree (a
// known pitfall: a stale height on an emptied root gives a wrong CID) and
// checks every commit and the final root against a tree built from scratch.
func TestDeleteOnlyRecordThenCreate(t *testing.T) {
	t.Parallel()
	key, err := crypto.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	r := newMemRepo()
	// A key of height 8, so a stale root height would show.
	first, second := "app.bsky.feed.post/9adeb165882c", "app.bsky.feed.post/3l3qo2vxaaw22"
	c1, b1 := recordBlock(t, "one")
	c2, b2 := recordBlock(t, "two")
	r.blocks[c1], r.blocks[c2] = b1, b2
	steps := []func() error{
		func() error { _, err := r.tree.Put(first, c1); return err },
		func() error { _, err := r.tree.Delete(first); return err },
		func() error { _, err := r.tree.Put(second, c2); return err },
	}
	prev := cid.Undef
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		ev := r.commitTo(t, key, string(syntax.NewTID(1725911162329308+int64(i), 0)), prev)
		if _, err := CheckCommitProof(ev, car.Limits{}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		prev, _ = r.tree.Root()
	}
	fresh := mst.New()
	if _, err := fresh.Put(second, c2); err != nil {
		t.Fatal(err)
	}
	want, _ := fresh.Root()
	if prev != want {
		t.Fatalf("root after delete-all-then-create = %s, from scratch %s", prev, want)
	}
}
