package car

import (
	"fmt"
	"io"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Writer streams a CAR to an io.Writer. It does not hash the blocks it is
// given: the caller vouches that each CID matches its data. It is not safe for
// concurrent use.
type Writer struct {
	w   io.Writer
	err error // sticky: after a failed write the output is corrupt
	// buf holds a section head, or a header with up to two roots, so neither
	// needs an allocation of its own.
	buf [128]byte
}

// NewWriter writes the header with the given roots to w. Every root must be
// a defined CID.
func NewWriter(w io.Writer, roots ...cid.CID) (*Writer, error) {
	for i, r := range roots {
		if !r.Defined() {
			return nil, fmt.Errorf("car: root %d: %w", i, cid.ErrUndefined)
		}
	}
	cw := &Writer{w: w}
	hlen := headerLen(len(roots))
	h := appendHeader(appendUvarint(cw.buf[:0], uint64(hlen)), roots)
	if _, err := w.Write(h); err != nil {
		return nil, fmt.Errorf("car: write header: %w", err)
	}
	return cw, nil
}

// WriteBlock writes one block section. After a write error it keeps
// returning that error.
func (w *Writer) WriteBlock(c cid.CID, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if !c.Defined() {
		return fmt.Errorf("car: write block: %w", cid.ErrUndefined)
	}
	head := c.AppendBytes(appendUvarint(w.buf[:0], uint64(cid.Len+len(data))))
	if _, err := w.w.Write(head); err != nil {
		w.err = fmt.Errorf("car: write block %s: %w", c, err)
		return w.err
	}
	if len(data) == 0 {
		return nil
	}
	if _, err := w.w.Write(data); err != nil {
		w.err = fmt.Errorf("car: write block %s: %w", c, err)
		return w.err
	}
	return nil
}

// Encode returns the whole CAR for roots and blocks, in the order given, in a
// single allocation. All CIDs must be defined (Encode has no error to report
// an undefined one with, and the result would not read back).
func Encode(roots []cid.CID, blocks []Block) []byte {
	hlen := headerLen(len(roots))
	size := uvarintLen(uint64(hlen)) + hlen
	for _, b := range blocks {
		slen := cid.Len + len(b.Data)
		size += uvarintLen(uint64(slen)) + slen
	}
	out := make([]byte, 0, size)
	out = appendHeader(appendUvarint(out, uint64(hlen)), roots)
	for _, b := range blocks {
		out = appendUvarint(out, uint64(cid.Len+len(b.Data)))
		out = b.CID.AppendBytes(out)
		out = append(out, b.Data...)
	}
	return out
}
