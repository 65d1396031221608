package firehose

import (
	"fmt"
	"math"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// decoder reads CBOR items from b. DecodeFrame runs dagcbor.Valid over each
// item before reading it, so the typed reads below only have to check types;
// they still check every length against what remains, so that skip and
// PeekSeq, which run before or without Valid, cannot read out of bounds.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) truncated() error {
	return fmt.Errorf("%w: %w at offset %d", ErrBadFrame, dagcbor.ErrTruncated, d.off)
}

// head reads an initial byte and its argument. For major type 7 the argument
// is the simple value (or a float's bits, which Valid rejects beforehand).
func (d *decoder) head() (major byte, arg uint64, err error) {
	if d.off >= len(d.b) {
		return 0, 0, d.truncated()
	}
	ib := d.b[d.off]
	major, ai := ib&0xe0, ib&0x1f
	switch {
	case ai < 24:
		d.off++
		return major, uint64(ai), nil
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(d.b)-d.off-1 < n {
			return 0, 0, d.truncated()
		}
		for _, c := range d.b[d.off+1 : d.off+1+n] {
			arg = arg<<8 | uint64(c)
		}
		d.off += 1 + n
		return major, arg, nil
	}
	return 0, 0, fmt.Errorf("%w: %w: initial byte 0x%02x at offset %d",
		ErrBadFrame, dagcbor.ErrForbidden, ib, d.off)
}

func (d *decoder) remaining() uint64 { return uint64(len(d.b) - d.off) }

// skip passes over one item of any shape. It counts the items still owed
// instead of recursing, so nesting depth cannot exhaust the stack.
func (d *decoder) skip() error {
	for pending := uint64(1); pending > 0; pending-- {
		major, arg, err := d.head()
		if err != nil {
			return err
		}
		switch major {
		case majBytes, majText:
			if arg > d.remaining() {
				return d.truncated()
			}
			d.off += int(arg)
		case majArray:
			// Every element takes at least a byte; this also bounds pending.
			if arg > d.remaining() {
				return d.truncated()
			}
			pending += arg
		case majMap:
			if arg > d.remaining()/2 {
				return d.truncated()
			}
			pending += 2 * arg
		case majTag:
			pending++
		}
	}
	return nil
}

// peekNull consumes a null if one is next.
func (d *decoder) peekNull() bool {
	if d.off < len(d.b) && d.b[d.off] == cborNull {
		d.off++
		return true
	}
	return false
}

func wrongType(field, want string) error {
	return fmt.Errorf("%w: %s is not %s", ErrBadFrame, field, want)
}

// expect reads a head of the given major type (a length or count).
func (d *decoder) expect(field string, major byte, want string) (uint64, error) {
	m, arg, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != major {
		return 0, wrongType(field, want)
	}
	return arg, nil
}

// span returns the next n bytes of a string's content, aliasing b.
func (d *decoder) span(n uint64) ([]byte, error) {
	if n > d.remaining() {
		return nil, d.truncated()
	}
	s := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return s, nil
}

// key reads a map key. Valid has checked keys are text; the check here is for
// the callers that read before Valid.
func (d *decoder) key() ([]byte, error) {
	n, err := d.expect("map key", majText, "a text string")
	if err != nil {
		return nil, err
	}
	return d.span(n)
}

func (d *decoder) mapHead(field string) (uint64, error) {
	return d.expect(field, majMap, "a map")
}

func (d *decoder) arrayHead(field string) (uint64, error) {
	return d.expect(field, majArray, "an array")
}

func (d *decoder) text(field string) (string, error) {
	n, err := d.expect(field, majText, "a text string")
	if err != nil {
		return "", err
	}
	s, err := d.span(n)
	return string(s), err
}

// textOrNull reads a nullable or optional string; null gives "".
func (d *decoder) textOrNull(field string) (string, error) {
	if d.peekNull() {
		return "", nil
	}
	return d.text(field)
}

// bytes reads a byte string, aliasing b. An empty one is nil, so that a value
// compares equal to the value its encoding decodes to.
func (d *decoder) bytes(field string, limit int, tooBig error) ([]byte, error) {
	n, err := d.expect(field, majBytes, "a byte string")
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: %s is %d bytes", tooBig, field, n)
	}
	s, err := d.span(n)
	if len(s) == 0 {
		s = nil
	}
	return s, err
}

func (d *decoder) int(field string) (int64, error) {
	m, arg, err := d.head()
	if err != nil {
		return 0, err
	}
	if (m != majUint && m != majNeg) || arg > math.MaxInt64 {
		return 0, wrongType(field, "an integer")
	}
	if m == majNeg {
		return -1 - int64(arg), nil
	}
	return int64(arg), nil
}

func (d *decoder) bool(field string) (bool, error) {
	if d.off < len(d.b) {
		switch d.b[d.off] {
		case cborFalse:
			d.off++
			return false, nil
		case cborTrue:
			d.off++
			return true, nil
		}
	}
	return false, wrongType(field, "a boolean")
}

// linkOrNull reads a nullable or optional link; null gives the undefined CID.
func (d *decoder) linkOrNull(field string) (cid.CID, error) {
	if d.peekNull() {
		return cid.Undef, nil
	}
	return d.link(field)
}

// linkSize is the encoded size of a link: tag 42, a byte string head, 0x00
// and a 36-byte CID.
const linkSize = 5 + cid.Len

// link reads a tag-42 link. Valid has checked its form (a 37-byte string of
// 0x00 and a blessed CID); cid.Parse checks the CID again for the callers
// that read before Valid.
func (d *decoder) link(field string) (cid.CID, error) {
	tag, err := d.expect(field, majTag, "a link")
	if err != nil {
		return cid.Undef, err
	}
	if tag != 42 {
		return cid.Undef, wrongType(field, "a link")
	}
	n, err := d.expect(field, majBytes, "a link")
	if err != nil {
		return cid.Undef, err
	}
	s, err := d.span(n)
	if err != nil {
		return cid.Undef, err
	}
	if len(s) == 0 || s[0] != 0x00 {
		return cid.Undef, fmt.Errorf("%w: %s: %w", ErrBadFrame, field, dagcbor.ErrLink)
	}
	c, err := cid.Parse(s[1:])
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %s: %w", ErrBadFrame, field, err)
	}
	return c, nil
}

// headerType reads the header's t, returning the known types as constants:
// no allocation for the common case.
func (d *decoder) headerType() (string, error) {
	n, err := d.expect("header t", majText, "a text string")
	if err != nil {
		return "", err
	}
	s, err := d.span(n)
	if err != nil {
		return "", err
	}
	switch string(s) {
	case TypeCommit:
		return TypeCommit, nil
	case TypeSync:
		return TypeSync, nil
	case TypeIdentity:
		return TypeIdentity, nil
	case TypeAccount:
		return TypeAccount, nil
	case TypeInfo:
		return TypeInfo, nil
	}
	return string(s), nil
}

// action reads a repoOp's action, returning the known ones as constants.
func (d *decoder) action() (string, error) {
	n, err := d.expect("action", majText, "a text string")
	if err != nil {
		return "", err
	}
	s, err := d.span(n)
	if err != nil {
		return "", err
	}
	switch string(s) {
	case "create":
		return "create", nil
	case "update":
		return "update", nil
	case "delete":
		return "delete", nil
	}
	return string(s), nil
}
