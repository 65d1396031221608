package car

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// The benchmarks run on the real #commit slices: a signed commit, the MST
// nodes on the path to the change, and the record blocks. Hash checks are
// included in every read.

func benchCases(b *testing.B) []networkCase {
	cases := loadNetworkCommits(b)
	for i := range cases {
		cases[i].name = strings.TrimSuffix(strings.TrimPrefix(cases[i].name, "firehose_commit_"), ".json")
	}
	return cases
}

func BenchmarkReadBytes(b *testing.B) {
	for _, nc := range benchCases(b) {
		b.Run(nc.name, func(b *testing.B) {
			b.SetBytes(int64(len(nc.blocks)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ReadBytes(nc.blocks, CommitLimits()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReader(b *testing.B) {
	for _, nc := range benchCases(b) {
		b.Run(nc.name, func(b *testing.B) {
			b.SetBytes(int64(len(nc.blocks)))
			b.ReportAllocs()
			src := bytes.NewReader(nil)
			for b.Loop() {
				src.Reset(nc.blocks)
				r, err := NewReader(src, CommitLimits())
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkWriter(b *testing.B) {
	for _, nc := range benchCases(b) {
		roots, blocks, err := readAll(bytes.NewReader(nc.blocks), Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(nc.name, func(b *testing.B) {
			b.SetBytes(int64(len(nc.blocks)))
			b.ReportAllocs()
			var buf bytes.Buffer
			buf.Grow(len(nc.blocks))
			for b.Loop() {
				buf.Reset()
				w, err := NewWriter(&buf, roots...)
				if err != nil {
					b.Fatal(err)
				}
				for _, blk := range blocks {
					if err := w.WriteBlock(blk.CID, blk.Data); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, nc := range benchCases(b) {
		roots, blocks, err := readAll(bytes.NewReader(nc.blocks), Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(nc.name, func(b *testing.B) {
			b.SetBytes(int64(len(nc.blocks)))
			b.ReportAllocs()
			for b.Loop() {
				_ = Encode(roots, blocks)
			}
		})
	}
}
