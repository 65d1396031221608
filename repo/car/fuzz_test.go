package car

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// fuzzLimits keeps a claimed block size small, so executions stay fast while
// the limit checks are still exercised.
var fuzzLimits = Limits{MaxBlockSize: 64 << 10, MaxBlocks: 1000}

// FuzzReader feeds arbitrary bytes to both readers. They must agree on
// accepting the input, fail only with the package's classified errors, and
// anything accepted must re-encode to exactly the input bytes.
func FuzzReader(f *testing.F) {
	for _, nc := range loadNetworkCommits(f) {
		f.Add(nc.blocks)
	}
	for _, tc := range errorCases() {
		f.Add(tc.in)
	}
	a, b := blockOf(cid.DagCBOR, "\xa1aa\x01"), blockOf(cid.Raw, "")
	f.Add(Encode(nil, nil))
	f.Add(Encode([]cid.CID{a.CID, b.CID}, []Block{a, b, a}))
	f.Add(Encode(make([]cid.CID, 0), []Block{blockOf(cid.Raw, string(make([]byte, 200)))}))

	f.Fuzz(func(t *testing.T, data []byte) {
		roots, m, errBytes := ReadBytes(data, fuzzLimits)
		sroots, blocks, errStream := readAll(bytes.NewReader(data), fuzzLimits)
		_, _, errPlain := readAll(plainReader{bytes.NewReader(data)}, fuzzLimits)
		for _, err := range []error{errBytes, errStream, errPlain} {
			if err != nil && !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
		}
		if (errBytes == nil) != (errStream == nil) || (errStream == nil) != (errPlain == nil) {
			t.Fatalf("readers disagree: ReadBytes %v, Reader %v, plain Reader %v", errBytes, errStream, errPlain)
		}
		if errBytes != nil {
			return
		}
		if len(roots) != len(sroots) {
			t.Fatalf("roots: %d vs %d", len(roots), len(sroots))
		}
		for i := range roots {
			if roots[i] != sroots[i] {
				t.Fatalf("root %d: %s vs %s", i, roots[i], sroots[i])
			}
		}
		for i, blk := range blocks {
			if !blk.CID.Matches(blk.Data) {
				t.Fatalf("block %d %s: accepted with a wrong hash", i, blk.CID)
			}
			if got, ok := m[blk.CID]; !ok || !bytes.Equal(got, blk.Data) {
				t.Fatalf("block %d %s: ReadBytes has %q", i, blk.CID, got)
			}
		}
		if len(m) > len(blocks) {
			t.Fatalf("ReadBytes has %d blocks, stream %d", len(m), len(blocks))
		}
		if enc := Encode(roots, blocks); !bytes.Equal(enc, data) {
			t.Fatalf("accepted input does not re-encode to itself:\n in %x\nout %x", data, enc)
		}
	})
}

func classified(err error) bool {
	for _, target := range []error{
		ErrHeader, ErrVarint, ErrHashMismatch, ErrLimit, io.ErrUnexpectedEOF,
		cid.ErrTooShort, cid.ErrVersion, cid.ErrCodec, cid.ErrHash,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
