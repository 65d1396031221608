package identity

import (
	"errors"
	"fmt"

	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// Sentinel errors. Compare with errors.Is; the returned errors wrap these
// with the DID and the reason.
var (
	// ErrInvalidDID: the DID is not syntactically valid, or is not valid
	// for its method (a did:web with a path, a did:plc of the wrong length).
	// It is the syntax package's sentinel, so syntax errors pass through
	// unwrapped.
	ErrInvalidDID = syntax.ErrInvalidDID
	// ErrUnsupportedMethod: a syntactically valid DID of a method atproto
	// does not use (only plc, web and key are resolved).
	ErrUnsupportedMethod = errors.New("unsupported DID method")
	// ErrDIDNotFound: the directory or host answered that the DID does not
	// exist (HTTP 404).
	ErrDIDNotFound = errors.New("DID not found")
	// ErrDIDTombstoned: the PLC directory answered that the DID was
	// deactivated for good (HTTP 410). It does not wrap ErrDIDNotFound;
	// callers that treat both as "gone" test for both.
	ErrDIDTombstoned = errors.New("DID tombstoned")
	// ErrInvalidDocument: the document could not be decoded, or does not
	// describe the requested DID.
	ErrInvalidDocument = errors.New("invalid DID document")
	// ErrDocumentTooLarge: the document exceeds the size limit. It wraps
	// ErrInvalidDocument.
	ErrDocumentTooLarge = fmt.Errorf("%w: too large", ErrInvalidDocument)
	// ErrResolutionFailed: the document could not be fetched (network
	// error, timeout, unexpected HTTP status). Usually transient.
	ErrResolutionFailed = errors.New("DID resolution failed")

	// ErrNoSigningKey: the document has no usable atproto signing key,
	// because it has none or because the one it has is malformed.
	ErrNoSigningKey = errors.New("no atproto signing key")
	// ErrNoPDS: the document has no usable atproto PDS service entry.
	ErrNoPDS = errors.New("no atproto PDS endpoint")
	// ErrNoService: the document has no usable service entry of the
	// requested id and type. The error from [Identity.PDSEndpoint] wraps
	// both ErrNoPDS and ErrNoService.
	ErrNoService = errors.New("no such service")
	// ErrNoHandle: the document declares no valid handle.
	ErrNoHandle = errors.New("no declared handle")
)

// Identity is what atproto needs from a resolved DID document. It is shared
// between all callers of a [Cache] and must be treated as read-only.
type Identity struct {
	// DID is the account's DID; the document's "id" equals it.
	DID syntax.DID
	// Handle is the declared handle: the first at:// entry of alsoKnownAs
	// that holds a valid handle, normalized to lower case. It is empty if
	// there is none. It is NOT verified: only a handle that resolves back
	// to DID may be shown as the account's handle.
	Handle syntax.Handle
	// Raw is the document exactly as received (for did:key, the document
	// synthesized from the key). It must not be modified.
	Raw []byte

	key    crypto.PublicKey
	keyErr error // why key is nil; wraps ErrNoSigningKey
	pds    string
	pdsErr error // why pds is empty; wraps ErrNoPDS

	services []service
}

// PublicKey returns the atproto signing key: the first verification method
// whose id is "#atproto" (relative or DID-qualified). The error wraps
// ErrNoSigningKey if there is no such method or it cannot be used (wrong
// controller, unsupported type, malformed key).
func (id *Identity) PublicKey() (crypto.PublicKey, error) {
	if id.key == nil {
		return nil, id.keyErr
	}
	return id.key, nil
}

// PDSEndpoint returns the URL of the account's PDS, without a trailing
// slash: the endpoint of the first service whose id is "#atproto_pds" and
// whose type is "AtprotoPersonalDataServer". The error wraps ErrNoPDS.
func (id *Identity) PDSEndpoint() (string, error) {
	if id.pds == "" {
		return "", id.pdsErr
	}
	return id.pds, nil
}

// DeclaredHandle returns Handle, or an error wrapping ErrNoHandle if the
// document declares none. The handle is not verified; see [Identity.Handle].
func (id *Identity) DeclaredHandle() (syntax.Handle, error) {
	if id.Handle == "" {
		return "", fmt.Errorf("%s: %w", id.DID, ErrNoHandle)
	}
	return id.Handle, nil
}

// ServiceEndpoint returns the endpoint URL of the first service whose id is
// "#"+fragment (relative or DID-qualified) and whose type is typ, for
// services other than the PDS (a feed generator's "bsky_fg", a labeler's
// "atproto_labeler"). The error wraps ErrNoService.
func (id *Identity) ServiceEndpoint(fragment, typ string) (string, error) {
	return findService(id.DID, id.services, fragment, typ)
}
