package pds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// BlobRef is an uploaded blob as records reference it.
type BlobRef struct {
	CID      cid.CID
	MimeType string
	Size     int64
}

// UploadBlob stores data as a blob of did's repo and returns its reference.
// Blobs are kept for the life of the account (a record may reference one at
// any time after the upload); deleting the account removes them.
func (p *PDS) UploadBlob(ctx context.Context, did, mimeType string, data []byte) (BlobRef, error) {
	if int64(len(data)) > p.cfg.MaxBlobSize {
		return BlobRef{}, fmt.Errorf("%w: %d bytes, at most %d", ErrBlobTooLarge, len(data), p.cfg.MaxBlobSize)
	}
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	if _, _, err := mime.ParseMediaType(mimeType); err != nil {
		return BlobRef{}, fmt.Errorf("%w: mime type %q: %w", ErrInvalidRequest, mimeType, err)
	}
	if err := p.enter(ctx); err != nil {
		return BlobRef{}, err
	}
	defer p.leave()
	st, err := p.lockRepo(did)
	if err != nil {
		return BlobRef{}, err
	}
	// The lock is held only to read a consistent status and uid; storing the
	// blob needs no ordering with commits.
	uid, werr := uint64(st.acct.UID), st.writable()
	st.mu.Unlock()
	if werr != nil {
		return BlobRef{}, werr
	}
	c := cid.Sum(cid.Raw, data)
	b := p.db.NewBatch()
	defer b.Close()
	if err := b.Set(blobKey(uid, c), encodeBlob(mimeType, data), nil); err != nil {
		return BlobRef{}, err
	}
	if err := b.Commit(p.wopts); err != nil {
		return BlobRef{}, fmt.Errorf("store blob: %w", err)
	}
	return BlobRef{CID: c, MimeType: mimeType, Size: int64(len(data))}, nil
}

// GetBlob returns a blob of did's repo and its MIME type.
func (p *PDS) GetBlob(did string, c cid.CID) ([]byte, string, error) {
	acct, _, err := p.readState(did)
	if err != nil {
		return nil, "", err
	}
	v, ok, err := getBytes(p.db, blobKey(uint64(acct.UID), c))
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", fmt.Errorf("%w: %s", ErrBlobNotFound, c)
	}
	mimeType, data, err := decodeBlob(v)
	if err != nil {
		return nil, "", fmt.Errorf("%w: blob %s: %w", ErrCorrupt, c, err)
	}
	return data, mimeType, nil
}

// A stored blob is uvarint(len(mime)) ‖ mime ‖ data: blobs can exceed what
// the DAG-CBOR codec's limits allow for one byte string.
func encodeBlob(mimeType string, data []byte) []byte {
	v := make([]byte, 0, binary.MaxVarintLen64+len(mimeType)+len(data))
	v = binary.AppendUvarint(v, uint64(len(mimeType)))
	v = append(v, mimeType...)
	return append(v, data...)
}

func decodeBlob(v []byte) (string, []byte, error) {
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)-w) {
		return "", nil, errors.New("bad length prefix")
	}
	return string(v[w : w+int(n)]), v[w+int(n):], nil
}

// hasKey reports whether key is present, without copying its value.
func hasKey(r pebble.Reader, key []byte) (bool, error) {
	_, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}
