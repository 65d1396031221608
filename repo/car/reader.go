package car

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Small block data is carved from shared chunks, so a stream of small blocks
// costs one allocation per chunk rather than one per block. Chunks start small
// (a #commit slice is a few KiB) and double up to arenaMax for long streams;
// blocks of arenaMax/4 or more get their own allocation, which bounds the
// space left unused at the end of a chunk.
const (
	arenaMin = 4 << 10
	arenaMax = 32 << 10
)

// byteReader is what the reader consumes; a plain io.Reader gets a bufio
// wrapper, while a bytes.Reader or bufio.Reader is used directly.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// Reader streams the blocks of a CAR. It is not safe for concurrent use.
type Reader struct {
	r     byteReader
	lim   Limits
	roots []cid.CID
	read  int64  // bytes consumed so far, for Limits.MaxBytes
	index int    // blocks returned so far
	err   error  // sticky: the stream cannot resync after an error
	arena []byte // the unused rest of the current chunk
	chunk int    // size of the current chunk
	head  [cid.Len]byte
	hdr   [128]byte // holds a header with up to two roots without allocating
}

// NewReader reads and checks the CAR header from r. Blocks are then read with
// Next. r is read no further than the reader needs, unless it has to be
// wrapped in a bufio.Reader (when it is not an io.ByteReader).
func NewReader(r io.Reader, lim Limits) (*Reader, error) {
	cr := &Reader{lim: lim.withDefaults()}
	if br, ok := r.(byteReader); ok {
		cr.r = br
	} else {
		cr.r = bufio.NewReader(r)
	}
	hlen, err := cr.readUvarint()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // an empty stream has no header
		}
		return nil, fmt.Errorf("car: header length: %w", err)
	}
	if err := cr.lim.checkHeaderLen(hlen); err != nil {
		return nil, err
	}
	if end := cr.read + int64(hlen); end > cr.lim.MaxBytes {
		return nil, fmt.Errorf("%w: header ends at byte %d, max %d", ErrLimit, end, cr.lim.MaxBytes)
	}
	var h []byte
	if hlen <= uint64(len(cr.hdr)) {
		h = cr.hdr[:hlen]
	} else {
		h = make([]byte, hlen) // within lim.MaxHeader, checked above
	}
	if _, err := io.ReadFull(cr.r, h); err != nil {
		return nil, fmt.Errorf("car: header: %w", noEOF(err))
	}
	cr.read += int64(hlen)
	if cr.roots, err = parseHeader(h); err != nil {
		return nil, err
	}
	return cr, nil
}

// Roots returns the header's roots. The slice is shared; do not modify it.
func (r *Reader) Roots() []cid.CID { return r.roots }

// Next returns the next block, after checking its data against its CID. It
// returns io.EOF after the last block, and after any error keeps returning
// that error. Block data is owned by the caller; small blocks may share a
// backing array with their neighbours, so keeping one alive keeps its chunk
// (at most 32 KiB) alive.
func (r *Reader) Next() (Block, error) {
	if r.err != nil {
		return Block{}, r.err
	}
	b, err := r.next()
	if err != nil {
		r.err = err
		return Block{}, err
	}
	r.index++
	return b, nil
}

func (r *Reader) next() (Block, error) {
	slen, err := r.readUvarint()
	if err != nil {
		if err == io.EOF {
			return Block{}, io.EOF // the clean end, between sections
		}
		return Block{}, fmt.Errorf("car: block %d length: %w", r.index, err)
	}
	if err := r.lim.checkSection(r.index, slen, r.read+int64(slen)); err != nil {
		return Block{}, err
	}
	// Read the CID (or as much of the section as there is, so a short or
	// foreign CID gets the cid package's precise error) before the data.
	// r.head is a field, not a local: passed to an interface it would escape
	// and cost an allocation per block.
	hn := min(int(slen), cid.Len)
	if _, err := io.ReadFull(r.r, r.head[:hn]); err != nil {
		return Block{}, fmt.Errorf("car: block %d: %w", r.index, noEOF(err))
	}
	c, _, err := cid.ParsePrefix(r.head[:hn])
	if err != nil {
		return Block{}, fmt.Errorf("car: block %d: %w", r.index, err)
	}
	data := r.alloc(int(slen) - cid.Len)
	if _, err := io.ReadFull(r.r, data); err != nil {
		return Block{}, fmt.Errorf("car: block %d: %w", r.index, noEOF(err))
	}
	r.read += int64(slen)
	if !c.Matches(data) {
		return Block{}, fmt.Errorf("%w: block %d, CID %s", ErrHashMismatch, r.index, c)
	}
	return Block{CID: c, Data: data}, nil
}

// readUvarint reads one length prefix. It returns a bare io.EOF only when the
// stream ends before the first byte.
func (r *Reader) readUvarint() (uint64, error) {
	var buf [maxVarintLen + 1]byte
	for i := range buf {
		c, err := r.r.ReadByte()
		if err != nil {
			if err == io.EOF && i > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		buf[i] = c
		if c < 0x80 {
			v, n, err := parseUvarint(buf[:i+1])
			r.read += int64(n)
			return v, err
		}
	}
	// Ten continuation bytes: parseUvarint reports the overlong varint.
	_, _, err := parseUvarint(buf[:])
	return 0, err
}

// alloc returns a zeroed slice of n bytes with its capacity cut to n.
func (r *Reader) alloc(n int) []byte {
	if n > len(r.arena) {
		if n >= arenaMax/4 {
			return make([]byte, n)
		}
		r.chunk = max(arenaMin, min(2*r.chunk, arenaMax), n)
		r.arena = make([]byte, r.chunk)
	}
	b := r.arena[:n:n]
	r.arena = r.arena[n:]
	return b
}

// noEOF turns an io.EOF in the middle of a structure into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
