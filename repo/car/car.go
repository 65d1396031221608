package car

import (
	"errors"
	"fmt"
	"io"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Errors returned by the readers and the writer. They are wrapped with detail;
// compare with errors.Is. CID format errors wrap the cid package's sentinels
// (cid.ErrVersion for a CIDv0, cid.ErrCodec, cid.ErrHash), and truncated input
// wraps io.ErrUnexpectedEOF.
var (
	ErrHeader       = errors.New("car: invalid header")
	ErrVarint       = errors.New("car: invalid varint length prefix")
	ErrHashMismatch = errors.New("car: block data does not match its CID")
	ErrLimit        = errors.New("car: limit exceeded")
)

// Block is one CAR section: a CID and the bytes it addresses.
type Block struct {
	CID  cid.CID
	Data []byte
}

// Default limits, used for any Limits field that is zero or negative. They
// admit a whole repository export while keeping a hostile stream from making
// the reader allocate more than one block's worth at a time.
const (
	// DefaultMaxHeader is room for about 100 roots; a real header has one
	// (58 bytes).
	DefaultMaxHeader = 4 << 10
	// DefaultMaxBlockSize is above both the 1,000,000-byte record limit and
	// the 2,000,000-byte cap on a whole #commit blocks slice.
	DefaultMaxBlockSize = 2 << 20
	// DefaultMaxBlocks allows repositories with millions of records.
	DefaultMaxBlocks = 1 << 24
	// DefaultMaxBytes is the total size of the archive, header included.
	DefaultMaxBytes = 4 << 30
)

// Limits caps what a reader accepts. A zero or negative field means its
// Default... constant, so the zero Limits is usable as is.
type Limits struct {
	MaxBlocks    int   // number of blocks, duplicates counted
	MaxBytes     int64 // whole archive: header, length prefixes, CIDs and data
	MaxBlockSize int   // data of one block, not counting its CID
	MaxHeader    int   // encoded header, not counting its length prefix
}

// CommitLimits returns the limits for the blocks field of a #commit or #sync
// event: at most 2,000,000 bytes in all (the lexicon's maxLength) and at most
// 1,000,000 bytes per block (the record size limit).
func CommitLimits() Limits {
	return Limits{
		MaxBlocks:    10_000,
		MaxBytes:     2_000_000,
		MaxBlockSize: 1_000_000,
		MaxHeader:    DefaultMaxHeader,
	}
}

func (l Limits) withDefaults() Limits {
	if l.MaxBlocks <= 0 {
		l.MaxBlocks = DefaultMaxBlocks
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxBlockSize <= 0 {
		l.MaxBlockSize = DefaultMaxBlockSize
	}
	if l.MaxHeader <= 0 {
		l.MaxHeader = DefaultMaxHeader
	}
	return l
}

// checkHeaderLen validates a header length prefix against the limits.
func (l Limits) checkHeaderLen(n uint64) error {
	if n == 0 {
		return fmt.Errorf("%w: empty", ErrHeader)
	}
	if n > uint64(l.MaxHeader) {
		return fmt.Errorf("%w: header of %d bytes, max %d", ErrLimit, n, l.MaxHeader)
	}
	return nil
}

// checkSection validates a block section prefix before anything is read:
// index is the block's position, n its section length and end the archive
// offset where the section would end.
func (l Limits) checkSection(index int, n uint64, end int64) error {
	if index >= l.MaxBlocks {
		return fmt.Errorf("%w: more than %d blocks", ErrLimit, l.MaxBlocks)
	}
	if n > uint64(l.MaxBlockSize)+cid.Len {
		return fmt.Errorf("%w: block %d has a %d-byte section, max %d data bytes",
			ErrLimit, index, n, l.MaxBlockSize)
	}
	// n is now small, so end cannot have overflowed.
	if end > l.MaxBytes {
		return fmt.Errorf("%w: block %d ends at byte %d, max %d", ErrLimit, index, end, l.MaxBytes)
	}
	return nil
}

// maxVarintLen is the longest varint the multiformats spec allows (63 bits).
const maxVarintLen = 9

// parseUvarint reads a minimal unsigned LEB128 varint at the start of b and
// returns it with its length. A varint cut short wraps io.ErrUnexpectedEOF.
func parseUvarint(b []byte) (uint64, int, error) {
	var v uint64
	for i, c := range b {
		if i == maxVarintLen {
			return 0, 0, fmt.Errorf("%w: longer than %d bytes", ErrVarint, maxVarintLen)
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				// A zero last byte adds nothing: a second encoding of a
				// shorter varint, which would break byte-exact round trips.
				return 0, 0, fmt.Errorf("%w: not minimal", ErrVarint)
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("car: varint: %w", io.ErrUnexpectedEOF)
}

// uvarintLen is the encoded size of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendUvarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// parseSection splits a section body (after its length prefix) into a checked
// block. data is returned as a sub-slice of sec with its capacity cut, so the
// caller can alias it safely.
func parseSection(index int, sec []byte) (Block, error) {
	c, n, err := cid.ParsePrefix(sec)
	if err != nil {
		return Block{}, fmt.Errorf("car: block %d: %w", index, err)
	}
	data := sec[n:len(sec):len(sec)]
	if !c.Matches(data) {
		return Block{}, fmt.Errorf("%w: block %d, CID %s", ErrHashMismatch, index, c)
	}
	return Block{CID: c, Data: data}, nil
}
