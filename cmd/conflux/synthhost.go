package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// synthHost lets the synthetic-activity driver write to an in-process PDS.
// synth defines the small Host interface it needs so that it does not
// depend on package pds; this adapter is the only place the two meet.
type synthHost struct {
	pds *pds.PDS
}

var _ synth.Host = synthHost{}

func (h synthHost) CreateAccount(ctx context.Context, handle, password string) (string, error) {
	a, err := h.pds.CreateAccount(ctx, pds.CreateAccountInput{Handle: handle, Password: password})
	if err != nil {
		// A restarted host already has its synthetic users (the driver's
		// handles are deterministic): carry on with them.
		if did, rerr := h.pds.ResolveRepo(handle); rerr == nil {
			return did, nil
		}
		return "", err
	}
	return a.DID, nil
}

// ApplyWrites validates strictly (ValidateOn): synthetic records use only
// schemas the host knows, so an unknown one is a bug to surface.
func (h synthHost) ApplyWrites(ctx context.Context, did string, writes []synth.Write) ([]synth.Result, error) {
	ws := make([]pds.Write, len(writes))
	for i, w := range writes {
		ws[i] = pds.Write{Action: w.Action, Collection: w.Collection, RKey: w.RKey, Value: w.Value, Validate: pds.ValidateOn}
	}
	res, err := h.pds.ApplyWrites(ctx, did, ws, cid.Undef)
	if errors.Is(err, pds.ErrRecordNotFound) {
		return nil, fmt.Errorf("%w: %w", synth.ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]synth.Result, len(res.Results))
	for i, r := range res.Results {
		out[i] = synth.Result{URI: r.URI, CID: r.CID}
	}
	return out, nil
}

func (h synthHost) UploadBlob(ctx context.Context, did, mime string, data []byte) (synth.Blob, error) {
	b, err := h.pds.UploadBlob(ctx, did, mime, data)
	if err != nil {
		return synth.Blob{}, err
	}
	return synth.Blob{CID: b.CID, MimeType: b.MimeType, Size: b.Size}, nil
}
