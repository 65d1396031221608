package synth

import (
	"context"
	"errors"

	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// ErrNotFound is what a Host returns (wrapped or not) when a write updates or
// deletes a record that does not exist. The driver counts it as a race with
// its own model, not as a host failure, and an update of a reused account's
// profile that fails with it is retried as a create.
var ErrNotFound = errors.New("synth: record not found")

// Host is the repository host the driver writes to. *pds.PDS satisfies it
// through a small adapter in cmd/conflux; tests use an in-memory host that
// builds real signed repositories.
type Host interface {
	// CreateAccount creates an account and returns its DID. To reuse
	// accounts from an earlier run, pass them in Config.Accounts instead.
	CreateAccount(ctx context.Context, handle, password string) (did string, err error)
	// ApplyWrites applies writes to did's repository in one commit and
	// returns one Result per write (the zero Result for a delete).
	ApplyWrites(ctx context.Context, did string, writes []Write) ([]Result, error)
	// UploadBlob stores data for did and returns its blob reference.
	UploadBlob(ctx context.Context, did, mime string, data []byte) (Blob, error)
}

// Write is one record operation of an ApplyWrites call.
type Write struct {
	Action     repo.Action // repo.Create, repo.Update or repo.Delete
	Collection string
	RKey       string
	Value      map[string]any // the record (nil for a delete), with its $type
}

// Result is what a host reports for one create or update.
type Result struct {
	URI string
	CID cid.CID
}

// Blob is an uploaded blob's reference.
type Blob struct {
	CID      cid.CID
	MimeType string
	Size     int64
}

// Account is an existing account for the driver to reuse.
type Account struct {
	DID    string
	Handle string
}
