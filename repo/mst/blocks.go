package mst

import (
	"errors"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// ErrMissingBlock reports that an operation needed a node the block source
// does not have (a partial tree without the nodes the operation touches).
// The wrapping error names the CID.
var ErrMissingBlock = errors.New("mst: missing block")

// BlockGetter is where a loaded tree reads its nodes from: a block store, or
// the blocks of a CAR slice.
type BlockGetter interface {
	// GetBlock returns the block with CID c; found is false when it is not
	// there. err is for failures of the store itself.
	GetBlock(c cid.CID) (data []byte, found bool, err error)
}

// MemBlocks is an in-memory block store, for tests and small trees.
type MemBlocks map[cid.CID][]byte

// GetBlock implements BlockGetter.
func (m MemBlocks) GetBlock(c cid.CID) ([]byte, bool, error) {
	b, ok := m[c]
	return b, ok, nil
}

// Put stores a copy of data under c; its signature fits Tree.WriteBlocks.
func (m MemBlocks) Put(c cid.CID, data []byte) error {
	m[c] = append([]byte(nil), data...)
	return nil
}

// recorder is a BlockGetter that remembers, in order, the distinct blocks
// that were found through it.
type recorder struct {
	bg   BlockGetter
	seen map[cid.CID]struct{}
	read []cid.CID
}

func (r *recorder) GetBlock(c cid.CID) ([]byte, bool, error) {
	data, found, err := r.bg.GetBlock(c)
	if err == nil && found {
		if _, dup := r.seen[c]; !dup {
			r.seen[c] = struct{}{}
			r.read = append(r.read, c)
		}
	}
	return data, found, err
}

// arena hands out copies of encoded blocks carved from chunks, so
// WriteBlocks gives every block its own bytes with few allocations. Chunks
// start small (most commits write a handful of nodes) and double.
type arena struct {
	buf  []byte
	next int
}

const (
	arenaFirst = 4 << 10
	arenaMax   = 256 << 10
)

func (a *arena) copy(b []byte) []byte {
	if cap(a.buf)-len(a.buf) < len(b) {
		a.next = min(max(a.next*2, arenaFirst), arenaMax)
		a.buf = make([]byte, 0, max(a.next, len(b)))
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}
