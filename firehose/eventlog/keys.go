package eventlog

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The event log owns one Pebble store. Its keyspace, all integers big-endian
// so that byte order is numeric order:
//
//	0x01 | seq u64             -> event: append time i64 (unix nanos) | frame
//	0x02 | seq u64             -> index checkpoint for the event at seq:
//	                              time i64 | bytes before seq u64 | events before seq u64
//	0x03 | 'h'                 -> head: seq i64 | time i64 | bytes total u64 | events total u64 | oldest i64
//
// Events: one key per sequenced event. Seqs are positive and strictly
// increasing; they are dense except for one jump where a restart raised the
// floor (Config.InitialSeq). The append time never decreases along seq (the
// committer clamps it), which is what lets the trimmer cut by age.
//
// Index: a checkpoint every minute of append time and every indexEveryBytes
// of frames, always one at the oldest retained event. "Bytes/events before"
// are running totals since the log was created, so stored bytes are
// head.bytes - index[0].bytes. The trimmer finds a cut point from the index
// and scans at most one checkpoint interval of events.
//
// Head: written in every append and trim batch, so the last seq, the running
// totals and the trim horizon (Oldest) survive trimming every event.
const (
	prefixEvent byte = 0x01
	prefixIndex byte = 0x02
	prefixMeta  byte = 0x03

	metaHead byte = 'h'
)

const (
	seqKeyLen     = 9  // prefix + seq
	eventValueMin = 8  // time; the frame may be empty
	indexValueLen = 24 // time + bytes before + events before
	headValueLen  = 40 // seq + time + bytes total + events total + oldest
)

var headKey = []byte{prefixMeta, metaHead}

// seqKey returns prefix|seq. Seqs are never negative, so the uint64 cast
// keeps numeric order.
func seqKey(prefix byte, seq int64) []byte {
	k := make([]byte, seqKeyLen)
	putSeqKey(k, prefix, seq)
	return k
}

func putSeqKey(dst []byte, prefix byte, seq int64) {
	dst[0] = prefix
	binary.BigEndian.PutUint64(dst[1:], uint64(seq))
}

// prefixEnd is the exclusive upper bound of a prefix's keys.
func prefixEnd(prefix byte) []byte { return []byte{prefix + 1} }

// decodeSeqKey checks a key read under prefix and returns its seq.
func decodeSeqKey(prefix byte, k []byte) (int64, error) {
	if len(k) != seqKeyLen || k[0] != prefix {
		return 0, fmt.Errorf("%w: key %x is not a 0x%02x seq key", ErrCorrupt, k, prefix)
	}
	u := binary.BigEndian.Uint64(k[1:])
	if u == 0 || u > math.MaxInt64 {
		return 0, fmt.Errorf("%w: key %x has seq out of range", ErrCorrupt, k)
	}
	return int64(u), nil
}

// decodeEventValue splits a stored event into its append time and frame. The
// frame aliases v.
func decodeEventValue(seq int64, v []byte) (int64, []byte, error) {
	if len(v) < eventValueMin {
		return 0, nil, fmt.Errorf("%w: event %d value is %d bytes, want at least %d",
			ErrCorrupt, seq, len(v), eventValueMin)
	}
	return int64(binary.BigEndian.Uint64(v)), v[eventValueMin:], nil
}

// indexEntry is a checkpoint: the event at seq, its append time, and the
// running totals of frame bytes and events appended before it.
type indexEntry struct {
	seq    int64
	time   int64
	bytes  int64
	events int64
}

func (e indexEntry) value() []byte {
	v := make([]byte, indexValueLen)
	binary.BigEndian.PutUint64(v[0:], uint64(e.time))
	binary.BigEndian.PutUint64(v[8:], uint64(e.bytes))
	binary.BigEndian.PutUint64(v[16:], uint64(e.events))
	return v
}

func decodeIndexEntry(k, v []byte) (indexEntry, error) {
	seq, err := decodeSeqKey(prefixIndex, k)
	if err != nil {
		return indexEntry{}, err
	}
	if len(v) != indexValueLen {
		return indexEntry{}, fmt.Errorf("%w: index %d value is %d bytes, want %d",
			ErrCorrupt, seq, len(v), indexValueLen)
	}
	e := indexEntry{
		seq:    seq,
		time:   int64(binary.BigEndian.Uint64(v[0:])),
		bytes:  int64(binary.BigEndian.Uint64(v[8:])),
		events: int64(binary.BigEndian.Uint64(v[16:])),
	}
	if e.bytes < 0 || e.events < 0 {
		return indexEntry{}, fmt.Errorf("%w: index %d has negative totals", ErrCorrupt, seq)
	}
	return e, nil
}

// headState is the durable head: the last seq, its append time, the running
// totals through it, and the trim horizon (every seq below oldest was trimmed
// or never existed). A log that never had an event has no head key and
// loads as headState{oldest: 1}.
type headState struct {
	seq    int64
	time   int64
	bytes  int64
	events int64
	oldest int64
}

func (h headState) value() []byte {
	v := make([]byte, headValueLen)
	binary.BigEndian.PutUint64(v[0:], uint64(h.seq))
	binary.BigEndian.PutUint64(v[8:], uint64(h.time))
	binary.BigEndian.PutUint64(v[16:], uint64(h.bytes))
	binary.BigEndian.PutUint64(v[24:], uint64(h.events))
	binary.BigEndian.PutUint64(v[32:], uint64(h.oldest))
	return v
}

func decodeHead(v []byte) (headState, error) {
	if len(v) != headValueLen {
		return headState{}, fmt.Errorf("%w: head value is %d bytes, want %d", ErrCorrupt, len(v), headValueLen)
	}
	h := headState{
		seq:    int64(binary.BigEndian.Uint64(v[0:])),
		time:   int64(binary.BigEndian.Uint64(v[8:])),
		bytes:  int64(binary.BigEndian.Uint64(v[16:])),
		events: int64(binary.BigEndian.Uint64(v[24:])),
		oldest: int64(binary.BigEndian.Uint64(v[32:])),
	}
	if h.seq < 1 || h.bytes < 0 || h.events < 1 || h.events > h.seq || h.oldest < 1 || h.oldest > h.seq+1 {
		return headState{}, fmt.Errorf("%w: head %d has impossible totals (bytes %d, events %d, oldest %d)",
			ErrCorrupt, h.seq, h.bytes, h.events, h.oldest)
	}
	return h, nil
}
