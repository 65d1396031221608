package pds

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// Account statuses as the sync lexicons spell them. Active is stored as "".
const (
	StatusActive      = ""
	StatusDeactivated = "deactivated"
	StatusTakendown   = "takendown"
	StatusDeleted     = "deleted"
)

// accountRec is an account as stored under 'a' did.
type accountRec struct {
	UID          int64  `cbor:"uid"`
	DID          string `cbor:"did"`
	Handle       string `cbor:"handle"`
	Email        string `cbor:"email,omitempty"`
	PasswordHash string `cbor:"pw"`
	SigningKey   string `cbor:"key"` // private Multikey
	Status       string `cbor:"status,omitempty"`
	CreatedAt    string `cbor:"created"`
}

// headRec is a repo's latest commit, stored under 'c' uid.
type headRec struct {
	Commit cid.CID `cbor:"commit"`
	Rev    string  `cbor:"rev"`
	Data   cid.CID `cbor:"data"`
}

// refreshRec is a live refresh token, stored under 't' jti.
type refreshRec struct {
	DID string `cbor:"did"`
	Exp int64  `cbor:"exp"`
}

// pendingRec holds the events of a write whose repo batch is durable but
// whose events may not be in the event log yet (see recover.go). LogHead is
// the event log's head when the batch was written: events of this write, if
// they were appended, have a higher seq.
type pendingRec struct {
	LogHead int64    `cbor:"head"`
	At      int64    `cbor:"at"`     // wall clock (Unix ns) when stored: recovery's order
	Frames  [][]byte `cbor:"frames"` // encoded with seq 0 and their time set
}

// getCBOR reads key from r and decodes it into v; found is false when the
// key is absent.
func getCBOR(r pebble.Reader, key []byte, v any) (bool, error) {
	b, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if err := dagcbor.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%w: key %q: %w", ErrCorrupt, key, err)
	}
	return true, nil
}

// setCBOR encodes v into w under key.
func setCBOR(w pebble.Writer, key []byte, v any) error {
	b, err := dagcbor.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key[:1], err)
	}
	return w.Set(key, b, nil)
}

// getBytes returns a copy of key's value; nil, false when absent.
func getBytes(r pebble.Reader, key []byte) ([]byte, bool, error) {
	b, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	return append([]byte(nil), b...), true, nil
}

// blockStore reads one account's blocks: the mst.BlockGetter over Pebble.
type blockStore struct {
	r   pebble.Reader
	uid uint64
}

// GetBlock implements mst.BlockGetter. The rev stored before the block is
// stripped.
func (s blockStore) GetBlock(c cid.CID) ([]byte, bool, error) {
	b, ok, err := getBytes(s.r, blockKey(s.uid, c))
	if err != nil || !ok {
		return nil, ok, err
	}
	if len(b) < revLen {
		return nil, false, fmt.Errorf("%w: block %s shorter than its rev", ErrCorrupt, c)
	}
	return b[revLen:], true, nil
}

// overlay is a block getter that sees blocks not yet committed (a write's new
// MST nodes and records) over the store.
type overlay struct {
	mem  map[cid.CID][]byte
	base blockStore
}

func (o overlay) GetBlock(c cid.CID) ([]byte, bool, error) {
	if b, ok := o.mem[c]; ok {
		return b, true, nil
	}
	return o.base.GetBlock(c)
}

// putBlock writes a block with the rev of the commit that wrote it.
func putBlock(w pebble.Writer, uid uint64, rev string, c cid.CID, data []byte) error {
	v := make([]byte, 0, revLen+len(data))
	v = append(v, rev...)
	v = append(v, data...)
	return w.Set(blockKey(uid, c), v, nil)
}

// nextUID reserves the next account uid in b.
func nextUID(r pebble.Reader, w pebble.Writer) (uint64, error) {
	b, ok, err := getBytes(r, metaKey(metaNextUID))
	if err != nil {
		return 0, err
	}
	uid := uint64(1)
	if ok {
		if len(b) != 8 {
			return 0, fmt.Errorf("%w: next uid is %d bytes", ErrCorrupt, len(b))
		}
		uid = binary.BigEndian.Uint64(b)
	}
	return uid, w.Set(metaKey(metaNextUID), binary.BigEndian.AppendUint64(nil, uid+1), nil)
}
