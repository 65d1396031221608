package pds

import (
	"errors"
	"fmt"
	"maps"

	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// Validation statuses of a write result.
const (
	statusValid   = "valid"
	statusUnknown = "unknown"
)

// prepareRecord checks pw's record ($type, data model, schema, size) and
// encodes it.
func (p *PDS) prepareRecord(pw *prepared) error {
	rec := pw.Value
	switch t, ok := rec["$type"]; {
	case !ok:
		rec = maps.Clone(rec)
		rec["$type"] = pw.Collection
	case t != pw.Collection:
		return fmt.Errorf("%w: record/$type: %v does not match collection %s", ErrInvalidRecord, t, pw.Collection)
	}
	pw.Value = rec
	if err := dagcbor.Check(rec); err != nil {
		return fmt.Errorf("%w: record: %w", ErrInvalidRecord, err)
	}
	if err := p.validate(pw); err != nil {
		return err
	}
	block, err := dagcbor.Marshal(rec)
	if err != nil {
		return fmt.Errorf("%w: record: %w", ErrInvalidRecord, err)
	}
	if len(block) > MaxRecordSize {
		return fmt.Errorf("%w: record: %d bytes encoded, over the %d-byte limit", ErrInvalidRecord, len(block), MaxRecordSize)
	}
	pw.block, pw.cid = block, cid.Sum(cid.DagCBOR, block)
	pw.blobs = blobRefs(rec, nil)
	return nil
}

// validate runs the schema checks of pw's collection, as its Validate
// mode asks.
func (p *PDS) validate(pw *prepared) error {
	v := p.cfg.Validator
	if pw.Validate == ValidateOff {
		return nil
	}
	err := v.ValidateRecord(pw.Collection, pw.Value)
	if err == nil {
		err = v.ValidateRecordKey(pw.Collection, pw.RKey)
	}
	var ve *lexicon.ValidationError
	switch {
	case err == nil:
		pw.status = statusValid
		return nil
	case errors.Is(err, lexicon.ErrUnknownSchema) && pw.Validate == ValidateAuto:
		pw.status = statusUnknown
		return nil
	case errors.Is(err, lexicon.ErrUnknownSchema):
		return fmt.Errorf("%w: lexicon not found: %s", ErrInvalidRequest, pw.Collection)
	case errors.As(err, &ve):
		return fmt.Errorf("%w: %s: %s", ErrInvalidRecord, ve.Path, ve.Message)
	default:
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
}

// blobRefs appends the CIDs of the blobs v references (objects with $type
// blob and a link ref; the legacy {cid, mimeType} form carries no link and
// is not tracked).
func blobRefs(v any, dst []cid.CID) []cid.CID {
	switch v := v.(type) {
	case map[string]any:
		if v["$type"] == "blob" {
			if ref, ok := v["ref"].(cid.CID); ok {
				return append(dst, ref)
			}
		}
		for _, e := range v {
			dst = blobRefs(e, dst)
		}
	case []any:
		for _, e := range v {
			dst = blobRefs(e, dst)
		}
	}
	return dst
}

// checkBlobs refuses records that reference a blob this repo does not hold:
// a record's blobs are uploaded first, as on the reference PDS.
func (p *PDS) checkBlobs(st *repoState, preps []prepared) error {
	for i := range preps {
		for _, c := range preps[i].blobs {
			ok, err := hasKey(p.db, blobKey(uint64(st.acct.UID), c))
			if err != nil {
				return fmt.Errorf("read blob: %w", err)
			}
			if !ok {
				return fmt.Errorf("%w: %s (referenced by %s; upload it first)", ErrBlobNotFound, c, preps[i].path)
			}
		}
	}
	return nil
}
