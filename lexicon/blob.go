package lexicon

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// Blob is a reference to a blob: {$type: "blob", ref, mimeType, size}.
//
// Old records use a legacy form, {cid: "<string>", mimeType}, with no size.
// It decodes with LegacyCID set, Ref undefined and Size -1, and re-encodes in
// the legacy form.
type Blob struct {
	Ref       cid.CID
	MimeType  string
	Size      int64
	LegacyCID string
}

// blobWire is every field either form of a blob may carry.
type blobWire struct {
	Type     string   `cbor:"$type,omitempty"`
	Ref      *cid.CID `cbor:"ref,omitempty"`
	MimeType string   `cbor:"mimeType"`
	Size     *int64   `cbor:"size,omitempty"`
	CID      string   `cbor:"cid,omitempty"`
}

// legacyBlobWire is the legacy form, in canonical key order for JSON.
type legacyBlobWire struct {
	CID      string `cbor:"cid" json:"cid"`
	MimeType string `cbor:"mimeType" json:"mimeType"`
}

// blobJSON is the JSON form: the link as {"$link": "<cid>"}.
type blobJSON struct {
	Type     string `json:"$type"`
	Ref      *link  `json:"ref,omitempty"`
	MimeType string `json:"mimeType"`
	Size     *int64 `json:"size,omitempty"`
	CID      string `json:"cid,omitempty"`
}

type link struct {
	Link string `json:"$link"`
}

var errBadBlob = errors.New("lexicon: invalid blob")

// IsLegacy reports whether b is in the legacy {cid, mimeType} form.
func (b Blob) IsLegacy() bool { return !b.Ref.Defined() && b.LegacyCID != "" }

func (b Blob) check() error {
	if b.IsLegacy() {
		return nil
	}
	if !b.Ref.Defined() || b.Size < 0 || b.MimeType == "" {
		return fmt.Errorf("%w: needs a ref, a mimeType and a size >= 0", errBadBlob)
	}
	return nil
}

// MarshalCBOR implements cbor.Marshaler.
func (b Blob) MarshalCBOR() ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if b.IsLegacy() {
		return dagcbor.Marshal(legacyBlobWire{CID: b.LegacyCID, MimeType: b.MimeType})
	}
	return dagcbor.Marshal(blobWire{Type: "blob", Ref: &b.Ref, MimeType: b.MimeType, Size: &b.Size})
}

// UnmarshalCBOR implements cbor.Unmarshaler.
func (b *Blob) UnmarshalCBOR(data []byte) error {
	var w blobWire
	if err := unmarshalTyped(data, &w); err != nil {
		return fmt.Errorf("%w: %w", errBadBlob, err)
	}
	return b.fromWire(w.Type, w.Ref, w.MimeType, w.Size, w.CID)
}

func (b *Blob) fromWire(typ string, ref *cid.CID, mime string, size *int64, legacy string) error {
	switch {
	case typ == "blob" && ref != nil && size != nil:
		*b = Blob{Ref: *ref, MimeType: mime, Size: *size}
	case typ == "" && ref == nil && legacy != "":
		*b = Blob{MimeType: mime, Size: -1, LegacyCID: legacy}
	default:
		return fmt.Errorf("%w: neither {$type: blob, ref, mimeType, size} nor {cid, mimeType}", errBadBlob)
	}
	return b.check()
}

// MarshalJSON implements json.Marshaler.
func (b Blob) MarshalJSON() ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if b.IsLegacy() {
		return json.Marshal(legacyBlobWire{CID: b.LegacyCID, MimeType: b.MimeType})
	}
	return json.Marshal(blobJSON{Type: "blob", Ref: &link{Link: b.Ref.String()}, MimeType: b.MimeType, Size: &b.Size})
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *Blob) UnmarshalJSON(data []byte) error {
	var w blobJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: %w", errBadBlob, err)
	}
	var ref *cid.CID
	if w.Ref != nil {
		c, err := cid.Decode(w.Ref.Link)
		if err != nil {
			return fmt.Errorf("%w: ref: %w", errBadBlob, err)
		}
		ref = &c
	}
	return b.fromWire(w.Type, ref, w.MimeType, w.Size, w.CID)
}
