package dagcbor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Default limits, used for every zero field of Limits.
//
// MaxSize is the largest frame an atproto event stream carries, so the biggest
// single item this package is asked to decode. MaxStringLen leaves room for a
// #commit's blocks (2,000,000 bytes) with margin. MaxDepth and MaxLen are far
// above what real records use (a few levels; arrays of at most hundreds) while
// keeping the decoded size of a hostile input within a small factor of its
// byte size.
const (
	DefaultMaxSize      = 5 << 20
	DefaultMaxDepth     = 64
	DefaultMaxLen       = 128 << 10
	DefaultMaxStringLen = 4 << 20

	// maxDepthCap bounds any configured depth: the checker and the decoder both
	// recurse once per level.
	maxDepthCap = 10000
)

// Limits bounds what a decoder accepts. A zero (or negative) field means its
// Default value. The zero Limits is what Valid, Unmarshal and FromJSON use.
type Limits struct {
	MaxSize      int // bytes in the whole input
	MaxDepth     int // nesting of arrays and maps; the top-level container is 1
	MaxLen       int // elements in one array, or pairs in one map
	MaxStringLen int // bytes in one text or byte string
}

// encodeLimits checks our own output: the form rules only, since a value the
// caller built is as large as it is.
var encodeLimits = Limits{
	MaxSize:      math.MaxInt,
	MaxDepth:     maxDepthCap,
	MaxLen:       math.MaxInt,
	MaxStringLen: math.MaxInt,
}

func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	l.MaxDepth = min(l.MaxDepth, maxDepthCap)
	if l.MaxLen <= 0 {
		l.MaxLen = DefaultMaxLen
	}
	if l.MaxStringLen <= 0 {
		l.MaxStringLen = DefaultMaxStringLen
	}
	return l
}

// Valid reports whether data is exactly one item of canonical atproto
// DAG-CBOR within the default limits, without building any values.
func Valid(data []byte) error { return Limits{}.Valid(data) }

// Valid reports whether data is exactly one item of canonical atproto
// DAG-CBOR within l. It does not allocate unless it returns an error.
func (l Limits) Valid(data []byte) error {
	l = l.withDefaults()
	if len(data) == 0 {
		return fmt.Errorf("%w: empty input", ErrTruncated)
	}
	if len(data) > l.MaxSize {
		return fmt.Errorf("%w: input is %d bytes, limit %d", ErrLimit, len(data), l.MaxSize)
	}
	c := checker{data: data, lim: l}
	if err := c.item(0); err != nil {
		return err
	}
	if c.off != len(data) {
		return fmt.Errorf("%w: %d bytes at offset %d", ErrTrailing, len(data)-c.off, c.off)
	}
	return nil
}

// checker walks one item. Every length is compared with the bytes that remain
// before anything is skipped, so a header claiming gigabytes fails at once.
type checker struct {
	data []byte
	off  int
	lim  Limits
}

const (
	majorUint  = 0
	majorNeg   = 1
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorMap   = 5
	majorTag   = 6
	majorOther = 7

	tagLink = 42
)

func (c *checker) remaining() uint64 { return uint64(len(c.data) - c.off) }

// head reads the initial byte and argument of an item of major type 0 to 6 and
// checks that the argument has its shortest form.
func (c *checker) head() (major byte, arg uint64, err error) {
	start := c.off
	if start >= len(c.data) {
		return 0, 0, fmt.Errorf("%w at offset %d", ErrTruncated, start)
	}
	ib := c.data[start]
	major, ai := ib>>5, ib&0x1f
	var n int // argument bytes after the initial byte
	switch {
	case ai < 24:
		c.off++
		return major, uint64(ai), nil
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	case ai == 31:
		return 0, 0, fmt.Errorf("%w at offset %d: indefinite length (0x%02x)", ErrForbidden, start, ib)
	default:
		return 0, 0, fmt.Errorf("%w at offset %d: reserved additional information %d", ErrForbidden, start, ai)
	}
	if len(c.data)-start-1 < n {
		return 0, 0, fmt.Errorf("%w at offset %d: %d-byte argument", ErrTruncated, start, n)
	}
	b := c.data[start+1 : start+1+n]
	var floor uint64 // the argument must be above this, or a shorter form exists
	switch n {
	case 1:
		arg, floor = uint64(b[0]), 23
	case 2:
		arg, floor = uint64(binary.BigEndian.Uint16(b)), math.MaxUint8
	case 4:
		arg, floor = uint64(binary.BigEndian.Uint32(b)), math.MaxUint16
	default:
		arg, floor = binary.BigEndian.Uint64(b), math.MaxUint32
	}
	if arg <= floor {
		return 0, 0, fmt.Errorf("%w at offset %d: argument %d in %d bytes", ErrNotCanonical, start, arg, n)
	}
	c.off = start + 1 + n
	return major, arg, nil
}

// item checks one item; depth is the number of containers around it.
func (c *checker) item(depth int) error {
	start := c.off
	if start >= len(c.data) {
		return fmt.Errorf("%w at offset %d", ErrTruncated, start)
	}
	if c.data[start]>>5 == majorOther {
		return c.simple()
	}
	major, arg, err := c.head()
	if err != nil {
		return err
	}
	switch major {
	case majorUint, majorNeg:
		if arg > math.MaxInt64 {
			return fmt.Errorf("%w at offset %d: integer outside the signed 64-bit range", ErrForbidden, start)
		}
		return nil
	case majorBytes:
		_, err := c.str(start, arg)
		return err
	case majorText:
		s, err := c.str(start, arg)
		if err != nil {
			return err
		}
		if !utf8.Valid(s) {
			return fmt.Errorf("%w at offset %d", ErrUTF8, start)
		}
		return nil
	case majorArray:
		if err := c.container(start, depth, arg, arg); err != nil {
			return err
		}
		for range arg {
			if err := c.item(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case majorMap:
		// Each pair needs at least two bytes; check against that before the loop.
		if err := c.container(start, depth, arg, 2*arg); err != nil {
			return err
		}
		return c.mapBody(depth, arg)
	default: // majorTag
		if arg != tagLink {
			return fmt.Errorf("%w at offset %d: tag %d (only 42, links, is allowed)", ErrForbidden, start, arg)
		}
		return c.link(start)
	}
}

// simple checks an item of major type 7: only false, true and null belong to
// the data model.
func (c *checker) simple() error {
	ib := c.data[c.off]
	switch ib {
	case 0xf4, 0xf5, 0xf6:
		c.off++
		return nil
	case 0xf9, 0xfa, 0xfb:
		return fmt.Errorf("%w at offset %d: float (0x%02x)", ErrForbidden, c.off, ib)
	case 0xf7:
		return fmt.Errorf("%w at offset %d: undefined", ErrForbidden, c.off)
	case 0xff:
		return fmt.Errorf("%w at offset %d: break outside an indefinite-length item", ErrForbidden, c.off)
	}
	return fmt.Errorf("%w at offset %d: simple value (0x%02x)", ErrForbidden, c.off, ib)
}

// str returns the n content bytes of a text or byte string and skips them.
func (c *checker) str(start int, n uint64) ([]byte, error) {
	if n > c.remaining() {
		return nil, fmt.Errorf("%w at offset %d: string of %d bytes, %d remain", ErrTruncated, start, n, c.remaining())
	}
	if n > uint64(c.lim.MaxStringLen) {
		return nil, fmt.Errorf("%w at offset %d: string of %d bytes, limit %d", ErrLimit, start, n, c.lim.MaxStringLen)
	}
	s := c.data[c.off : c.off+int(n)]
	c.off += int(n)
	return s, nil
}

// container checks an array or map head against the limits and against the
// least number of bytes its n entries need.
func (c *checker) container(start, depth int, n, minBytes uint64) error {
	if depth+1 > c.lim.MaxDepth {
		return fmt.Errorf("%w at offset %d: nesting deeper than %d", ErrLimit, start, c.lim.MaxDepth)
	}
	if n > uint64(c.lim.MaxLen) {
		return fmt.Errorf("%w at offset %d: %d entries, limit %d", ErrLimit, start, n, c.lim.MaxLen)
	}
	// n <= MaxLen <= MaxInt, so 2*n cannot wrap around for a map.
	if minBytes > c.remaining() {
		return fmt.Errorf("%w at offset %d: %d entries, %d bytes remain", ErrTruncated, start, n, c.remaining())
	}
	return nil
}

// mapBody checks n key/value pairs: text keys, strictly increasing in
// length-first then bytewise order (which also rules out duplicates).
func (c *checker) mapBody(depth int, n uint64) error {
	var prev []byte
	for i := range n {
		kstart := c.off
		if kstart >= len(c.data) {
			return fmt.Errorf("%w at offset %d", ErrTruncated, kstart)
		}
		if c.data[kstart]>>5 != majorText {
			return fmt.Errorf("%w at offset %d: major type %d", ErrKeyType, kstart, c.data[kstart]>>5)
		}
		_, klen, err := c.head()
		if err != nil {
			return err
		}
		key, err := c.str(kstart, klen)
		if err != nil {
			return err
		}
		if !utf8.Valid(key) {
			return fmt.Errorf("%w at offset %d (map key)", ErrUTF8, kstart)
		}
		if i > 0 {
			switch compareKeys(prev, key) {
			case 0:
				return fmt.Errorf("%w at offset %d: %q", ErrDuplicateKey, kstart, key)
			case 1:
				return fmt.Errorf("%w at offset %d: map key %q sorts before %q", ErrNotCanonical, kstart, key, prev)
			}
		}
		prev = key
		if err := c.item(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// compareKeys orders map keys as DAG-CBOR does: shorter first, then bytewise.
func compareKeys(a, b []byte) int {
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return bytes.Compare(a, b)
}

// link checks the content of tag 42: a byte string of 0x00 and a blessed CID.
func (c *checker) link(start int) error {
	cstart := c.off
	if cstart >= len(c.data) {
		return fmt.Errorf("%w at offset %d: tag 42 without content", ErrTruncated, start)
	}
	if c.data[cstart]>>5 != majorBytes {
		return fmt.Errorf("%w at offset %d: tag 42 content is not a byte string", ErrLink, start)
	}
	_, n, err := c.head()
	if err != nil {
		return err
	}
	b, err := c.str(cstart, n)
	if err != nil {
		return err
	}
	if len(b) == 0 || b[0] != 0x00 {
		return fmt.Errorf("%w at offset %d: content must start with the 0x00 multibase prefix", ErrLink, start)
	}
	if _, err := cid.Parse(b[1:]); err != nil {
		return fmt.Errorf("%w at offset %d: %w", ErrLink, start, err)
	}
	return nil
}
