package car

import (
	"fmt"
	"io"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Blocks is the set of blocks of a CAR read into memory, keyed by CID.
type Blocks map[cid.CID][]byte

// GetBlock returns the data of block c; found is false when the CAR did not
// hold it. It never fails: err is there to satisfy mst.BlockGetter.
func (b Blocks) GetBlock(c cid.CID) (data []byte, found bool, err error) {
	data, found = b[c]
	return data, found, nil
}

// ReadBytes parses a whole CAR held in memory, checking every block's hash.
// The returned block data aliases data (no copies), so data must stay
// unmodified while blocks is in use. A block that appears twice is kept once.
func ReadBytes(data []byte, lim Limits) (roots []cid.CID, blocks Blocks, err error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes, max %d", ErrLimit, len(data), lim.MaxBytes)
	}
	hlen, n, err := parseUvarint(data)
	if err != nil {
		return nil, nil, fmt.Errorf("car: header length: %w", err)
	}
	if err := lim.checkHeaderLen(hlen); err != nil {
		return nil, nil, err
	}
	if hlen > uint64(len(data)-n) {
		return nil, nil, fmt.Errorf("car: header: %w", io.ErrUnexpectedEOF)
	}
	body := n + int(hlen)
	roots, err = parseHeader(data[n:body])
	if err != nil {
		return nil, nil, err
	}

	// A first pass over the length prefixes alone sizes the map exactly, so
	// it is allocated once instead of growing through several rehashes.
	count := 0
	for off := body; off < len(data); count++ {
		_, off, err = nextSection(data, off, count, lim)
		if err != nil {
			return nil, nil, err
		}
	}
	blocks = make(Blocks, count)
	for off, i := body, 0; off < len(data); i++ {
		var sec []byte
		sec, off, _ = nextSection(data, off, i, lim) // checked by the first pass
		b, err := parseSection(i, sec)
		if err != nil {
			return nil, nil, err
		}
		blocks[b.CID] = b.Data
	}
	return roots, blocks, nil
}

// nextSection returns the body of the section whose length prefix starts at
// data[off], and the offset of the next section.
func nextSection(data []byte, off, index int, lim Limits) (sec []byte, next int, err error) {
	slen, n, err := parseUvarint(data[off:])
	if err != nil {
		return nil, 0, fmt.Errorf("car: block %d length: %w", index, err)
	}
	start := off + n
	if err := lim.checkSection(index, slen, int64(start)+int64(slen)); err != nil {
		return nil, 0, err
	}
	if slen > uint64(len(data)-start) {
		return nil, 0, fmt.Errorf("car: block %d: %w", index, io.ErrUnexpectedEOF)
	}
	next = start + int(slen)
	return data[start:next], next, nil
}
