// Package synthhost connects the synthetic-activity driver (pds/synth) to an
// in-process repository host (pds). synth defines the small Host interface
// it needs so that it does not depend on package pds; this adapter is the one
// place the two meet, for the binary, the benchmarks and the tests alike.
package synthhost

import (
	"context"
	"errors"
	"fmt"

	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// Host writes the driver's actions to PDS.
type Host struct {
	PDS *pds.PDS
	// OnCommit, if set, sees every commit the driver makes, with its rev
	// and seq, on the writing goroutine.
	OnCommit func(did string, res pds.CommitResult)
}

var _ synth.Host = Host{}

// CreateAccount creates handle's account. A restarted host already has its
// synthetic users (the driver's handles are deterministic), so a handle that
// is taken yields the existing account's DID.
func (h Host) CreateAccount(ctx context.Context, handle, password string) (string, error) {
	a, err := h.PDS.CreateAccount(ctx, pds.CreateAccountInput{Handle: handle, Password: password})
	if err != nil {
		if did, rerr := h.PDS.ResolveRepo(handle); rerr == nil {
			return did, nil
		}
		return "", err
	}
	return a.DID, nil
}

// ApplyWrites validates strictly (pds.ValidateOn): synthetic records use only
// schemas the host knows, so an unknown one is a bug to surface. A write to
// a record that is gone is synth.ErrNotFound.
func (h Host) ApplyWrites(ctx context.Context, did string, writes []synth.Write) ([]synth.Result, error) {
	ws := make([]pds.Write, len(writes))
	for i, w := range writes {
		ws[i] = pds.Write{Action: w.Action, Collection: w.Collection, RKey: w.RKey, Value: w.Value, Validate: pds.ValidateOn}
	}
	res, err := h.PDS.ApplyWrites(ctx, did, ws, cid.Undef)
	if errors.Is(err, pds.ErrRecordNotFound) {
		return nil, fmt.Errorf("%w: %w", synth.ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	if h.OnCommit != nil {
		h.OnCommit(did, res)
	}
	out := make([]synth.Result, len(res.Results))
	for i, r := range res.Results {
		out[i] = synth.Result{URI: r.URI, CID: r.CID}
	}
	return out, nil
}

// UploadBlob stores a blob for did.
func (h Host) UploadBlob(ctx context.Context, did, mime string, data []byte) (synth.Blob, error) {
	b, err := h.PDS.UploadBlob(ctx, did, mime, data)
	if err != nil {
		return synth.Blob{}, err
	}
	return synth.Blob{CID: b.CID, MimeType: b.MimeType, Size: b.Size}, nil
}
