package cid

import (
	"errors"
	"fmt"
)

// The DAG-CBOR form of a link is tag 42 around a byte string holding 0x00 (the
// multibase "identity" prefix) and the binary CID. With the blessed CID format
// the whole item has a fixed size and a fixed 5-byte head, so it is written and
// checked as plain bytes here; the cid package stays free of a CBOR library.
const (
	cborTag42   = 0xd8 // major 6, one-byte argument follows
	cborTagNum  = 42
	cborBytes1  = 0x58 // major 2, one-byte length follows
	cborNull    = 0xf6
	cborLinkLen = 5 + Len
)

// ErrNotLink is returned by UnmarshalCBOR for anything but a canonical tag-42
// link or null.
var ErrNotLink = errors.New("cid: CBOR item is not a tag-42 link")

// MarshalCBOR returns the DAG-CBOR link form: d8 2a 58 25 00 <36-byte CID>.
//
// The undefined CID encodes as null (f6). That makes a plain cid.CID struct
// field a nullable link, which is what atproto needs for fields that must be
// present even when empty (the commit's prev, the MST's l and t). For a link
// that is absent rather than null, tag the field `omitzero`; `omitempty` does
// not omit it, because CBOR libraries treat a custom marshaler as never empty.
func (c CID) MarshalCBOR() ([]byte, error) {
	if !c.Defined() {
		return []byte{cborNull}, nil
	}
	return c.AppendCBOR(make([]byte, 0, cborLinkLen)), nil
}

// AppendCBOR appends the DAG-CBOR link form of a defined CID to dst. It does not
// special-case the undefined CID; callers that can hold one check Defined.
func (c CID) AppendCBOR(dst []byte) []byte {
	dst = append(dst, cborTag42, cborTagNum, cborBytes1, 1+Len, 0x00)
	return c.AppendBytes(dst)
}

// UnmarshalCBOR reads one DAG-CBOR item that must be exactly a canonical link
// (tag 42, shortest-form head, 0x00 prefix, a blessed CID) or null, which gives
// the undefined CID. Anything else, including trailing bytes, is an error.
func (c *CID) UnmarshalCBOR(b []byte) error {
	if len(b) == 1 && b[0] == cborNull {
		*c = Undef
		return nil
	}
	if len(b) < 5 {
		return fmt.Errorf("%w: %d bytes", ErrNotLink, len(b))
	}
	if b[0] != cborTag42 || b[1] != cborTagNum {
		return fmt.Errorf("%w: head % x", ErrNotLink, b[:2])
	}
	if b[2] != cborBytes1 || b[3] != 1+Len {
		// A byte string of another length cannot hold a blessed CID; a longer head
		// for 37 bytes would not be the shortest form.
		return fmt.Errorf("%w: link content head % x, want 58 25", ErrNotLink, b[2:4])
	}
	if b[4] != 0x00 {
		return fmt.Errorf("%w: multibase prefix 0x%02x, want 0x00", ErrNotLink, b[4])
	}
	if len(b) != cborLinkLen {
		return fmt.Errorf("%w: %d bytes, want %d", ErrNotLink, len(b), cborLinkLen)
	}
	d, err := Parse(b[5:])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotLink, err)
	}
	*c = d
	return nil
}
