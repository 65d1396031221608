package car

import (
	"bytes"
	"testing"
)

// TestNetworkCommits parses the blocks slice of each captured #commit event
// with both readers and re-encodes it byte for byte.
func TestNetworkCommits(t *testing.T) {
	t.Parallel()
	for _, nc := range loadNetworkCommits(t) {
		t.Run(nc.name, func(t *testing.T) {
			t.Parallel()
			roots, blocks, err := ReadBytes(nc.blocks, CommitLimits())
			if err != nil {
				t.Fatal(err)
			}
			if len(roots) != 1 || roots[0] != nc.commit {
				t.Fatalf("roots = %v, want [%s]", roots, nc.commit)
			}
			if _, ok := blocks[nc.commit]; !ok {
				t.Fatalf("commit block %s missing", nc.commit)
			}
			for _, oc := range nc.ops {
				if _, ok := blocks[oc]; !ok {
					t.Errorf("record block %s of an op missing", oc)
				}
			}

			sroots, sblocks, err := readAll(bytes.NewReader(nc.blocks), CommitLimits())
			if err != nil {
				t.Fatal(err)
			}
			if len(sroots) != 1 || sroots[0] != nc.commit {
				t.Fatalf("stream roots = %v, want [%s]", sroots, nc.commit)
			}
			if len(sblocks) < 3 {
				t.Fatalf("only %d blocks; want commit, MST nodes and records", len(sblocks))
			}
			for i, b := range sblocks {
				if !b.CID.Matches(b.Data) {
					t.Fatalf("block %d %s: hash does not match", i, b.CID)
				}
				if got := blocks[b.CID]; !bytes.Equal(got, b.Data) {
					t.Fatalf("block %d %s: ReadBytes and Reader disagree", i, b.CID)
				}
			}
			if len(blocks) > len(sblocks) {
				t.Fatalf("ReadBytes found %d blocks, stream %d", len(blocks), len(sblocks))
			}

			if got := Encode(sroots, sblocks); !bytes.Equal(got, nc.blocks) {
				t.Fatalf("Encode differs from the original (%d vs %d bytes)", len(got), len(nc.blocks))
			}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, sroots...)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range sblocks {
				if err := w.WriteBlock(b.CID, b.Data); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(buf.Bytes(), nc.blocks) {
				t.Fatal("Writer output differs from the original")
			}
		})
	}
}
