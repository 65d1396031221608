package repo

import (
	"bytes"
	"testing"

	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// seedEvidence builds a small real history and returns its commit events.
func seedEvidence(f *testing.F) []*CommitEvidence {
	key, err := crypto.GenerateK256()
	if err != nil {
		f.Fatal(err)
	}
	r := newMemRepo()
	var out []*CommitEvidence
	prev := cid.Undef
	for i := range 6 {
		c, b := recordBlock(f, string(rune('a'+i)))
		r.blocks[c] = b
		path := "app.bsky.feed.post/" + string(syntax.NewTID(1725911162329308+int64(i), 0))
		if _, err := r.tree.Put(path, c); err != nil {
			f.Fatal(err)
		}
		ev := r.commitTo(f, key, string(syntax.NewTID(1725911162329308+int64(i), 1)), prev)
		out = append(out, ev)
		prev = ev.PrevData
		prev, _ = r.tree.Root()
	}
	return out
}

func FuzzParseCommit(f *testing.F) {
	for _, ev := range seedEvidence(f) {
		_, blocks, err := car.ReadBytes(ev.Blocks, car.Limits{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blocks[ev.Commit])
	}
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa6, 0x63, 'd', 'i', 'd'})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommit(b)
		if err != nil {
			return
		}
		again, err := c.Bytes()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted commit does not re-encode identically: %v", err)
		}
		_ = c.VerifyStructure()
	})
}

// FuzzCheckCommitProof feeds arbitrary CAR slices to the proof check with the
// ops and prevData of real commits: it must return an error or a result, never
// panic, and never accept a slice whose tree does not invert to prevData.
func FuzzCheckCommitProof(f *testing.F) {
	evs := seedEvidence(f)
	for i, ev := range evs {
		f.Add(uint8(i), ev.Blocks)
	}
	f.Fuzz(func(t *testing.T, which uint8, blocks []byte) {
		ev := *evs[int(which)%len(evs)]
		ev.Blocks = blocks
		checked, err := CheckCommitProof(&ev, car.Limits{})
		if err != nil {
			return
		}
		if !ev.PrevData.Defined() {
			return
		}
		prev, err := InvertOps(checked.Blocks, checked.Commit.Data, ev.Ops)
		if err != nil || prev != ev.PrevData {
			t.Fatalf("accepted slice does not invert to prevData: %v", err)
		}
	})
}
