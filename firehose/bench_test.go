package firehose

import (
	"strings"
	"testing"
)

// benchCommit is a real network #commit: one op, a 2,853-byte CAR slice, a
// 3.1 KB frame.
func benchCommit(b *testing.B) (*Commit, []byte) {
	b.Helper()
	for _, vf := range loadFirehoseCommits(b) {
		if strings.Contains(vf.name, "4621317030") {
			f, err := DecodeFrame(vf.bytes)
			if err != nil {
				b.Fatal(err)
			}
			return f.Msg.(*Commit), vf.bytes
		}
	}
	b.Fatal("commit 4621317030 not found")
	return nil, nil
}

func BenchmarkEncodeCommit(b *testing.B) {
	c, frame := benchCommit(b)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeFrame(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendCommit(b *testing.B) {
	c, frame := benchCommit(b)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	buf := make([]byte, 0, 2*len(frame))
	for b.Loop() {
		var err error
		if buf, err = AppendFrame(buf[:0], c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCommit(b *testing.B) {
	_, frame := benchCommit(b)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPeekSeq(b *testing.B) {
	_, frame := benchCommit(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := PeekSeq(frame); err != nil {
			b.Fatal(err)
		}
	}
}
