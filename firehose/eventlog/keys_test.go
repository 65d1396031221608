package eventlog

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestSeqKeysSortNumerically(t *testing.T) {
	t.Parallel()
	seqs := []int64{1, 2, 255, 256, 65535, 65536, 1 << 32, math.MaxInt64 - 1, math.MaxInt64}
	for i := 1; i < len(seqs); i++ {
		a, b := seqKey(prefixEvent, seqs[i-1]), seqKey(prefixEvent, seqs[i])
		if bytes.Compare(a, b) >= 0 {
			t.Fatalf("key(%d) >= key(%d)", seqs[i-1], seqs[i])
		}
	}
	for _, s := range seqs {
		got, err := decodeSeqKey(prefixEvent, seqKey(prefixEvent, s))
		if err != nil || got != s {
			t.Fatalf("round trip %d: %d, %v", s, got, err)
		}
	}
	// Every key of a prefix sorts below the next prefix's keys.
	if bytes.Compare(seqKey(prefixEvent, math.MaxInt64), prefixEnd(prefixEvent)) >= 0 {
		t.Fatal("event keys reach the next prefix")
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	t.Parallel()
	badKeys := [][]byte{
		nil,
		{prefixEvent},
		seqKey(prefixIndex, 5),            // wrong prefix
		append(seqKey(prefixEvent, 5), 0), // too long
		seqKey(prefixEvent, 0),            // seq 0 is never used
		{prefixEvent, 0x80, 0, 0, 0, 0, 0, 0, 0, 1}, // beyond int64
	}
	for _, k := range badKeys {
		if _, err := decodeSeqKey(prefixEvent, k); !errors.Is(err, ErrCorrupt) {
			t.Errorf("key %x: %v, want ErrCorrupt", k, err)
		}
	}
	if _, _, err := decodeEventValue(1, []byte{1, 2, 3}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short event value: %v", err)
	}
	if ts, frame, err := decodeEventValue(1, []byte{0, 0, 0, 0, 0, 0, 0, 9}); err != nil || ts != 9 || len(frame) != 0 {
		t.Errorf("empty frame: %d %v %v", ts, frame, err)
	}

	e := indexEntry{seq: 7, time: 123, bytes: 456, events: 6}
	if got, err := decodeIndexEntry(seqKey(prefixIndex, 7), e.value()); err != nil || got != e {
		t.Errorf("index round trip: %+v, %v", got, err)
	}
	if _, err := decodeIndexEntry(seqKey(prefixIndex, 7), e.value()[:23]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short index value: %v", err)
	}
	if _, err := decodeIndexEntry(seqKey(prefixIndex, 7), indexEntry{seq: 7, bytes: -1}.value()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("negative index totals: %v", err)
	}

	h := headState{seq: 10, time: 5, bytes: 100, events: 10, oldest: 3}
	if got, err := decodeHead(h.value()); err != nil || got != h {
		t.Errorf("head round trip: %+v, %v", got, err)
	}
	badHeads := []headState{
		{seq: 0, events: 1, oldest: 1},
		{seq: 5, events: 6, oldest: 1}, // more events than seqs
		{seq: 5, events: 0, oldest: 1}, // a head with no event
		{seq: 5, events: 5, oldest: 7}, // horizon beyond head+1
		{seq: 5, events: 5, oldest: 0}, // horizon below 1
		{seq: 5, events: 5, bytes: -1, oldest: 1},
	}
	for _, b := range badHeads {
		if _, err := decodeHead(b.value()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("head %+v: %v, want ErrCorrupt", b, err)
		}
	}
	if _, err := decodeHead(h.value()[:39]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short head: %v", err)
	}
}
