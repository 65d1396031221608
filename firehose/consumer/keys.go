package consumer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// In durable mode the consumer writes ONE key into the caller's Pebble DB
// per consumer name:
//
//	0xFF | "consumer/cursor/" | name  -> seq u64 big-endian
//
// The value is the seq of the last event whose effects are committed in
// the same batch. The prefix byte 0xFF is reserved for it: a caller keeps
// its own keyspaces below 0xFF (and iterates them with an exclusive upper
// bound), so several consumers and the caller's index share one DB without
// clashing. The key is absent until the first commit.
const cursorKeyPrefix = "\xffconsumer/cursor/"

const (
	cursorValueLen = 8
	maxNameLen     = 128
)

// ErrCorruptCheckpoint: a stored cursor value is not what this package
// writes.
var ErrCorruptCheckpoint = errors.New("consumer: corrupt checkpoint")

// CursorKey is the key under which the durable consumer called name keeps
// its cursor.
func CursorKey(name string) []byte {
	k := make([]byte, 0, len(cursorKeyPrefix)+len(name))
	k = append(k, cursorKeyPrefix...)
	return append(k, name...)
}

// validateName accepts printable UTF-8 names of at most maxNameLen bytes,
// so a key is readable in a dump and one name is never a NUL-padded form of
// another.
func validateName(name string) error {
	if name == "" || len(name) > maxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("consumer name %q: want 1..%d bytes of UTF-8", name, maxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("consumer name %q: control character", name)
		}
	}
	return nil
}

func encodeCursor(seq int64) []byte {
	v := make([]byte, cursorValueLen)
	binary.BigEndian.PutUint64(v, uint64(seq))
	return v
}

func decodeCursor(v []byte) (int64, error) {
	if len(v) != cursorValueLen {
		return 0, fmt.Errorf("%w: value of %d bytes, want %d", ErrCorruptCheckpoint, len(v), cursorValueLen)
	}
	seq := binary.BigEndian.Uint64(v)
	if seq == 0 || seq > 1<<62 {
		// We only ever store seqs of processed events, which are >= 1.
		return 0, fmt.Errorf("%w: seq %d", ErrCorruptCheckpoint, seq)
	}
	return int64(seq), nil
}
