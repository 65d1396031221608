package plc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/conflux-atproto/conflux/repo/crypto"
)

// CreateGenesis builds and signs the genesis operation of a new atproto
// identity and returns its DID. rotationKeys control the identity (most
// authoritative first) and signer must hold one of them; signingKey signs
// the account's repository. An empty handle or pdsEndpoint leaves that
// entry out.
func CreateGenesis(rotationKeys []crypto.PublicKey, signingKey crypto.PublicKey, handle, pdsEndpoint string, signer crypto.PrivateKey) (string, *Op, error) {
	if signer == nil || signingKey == nil {
		return "", nil, fmt.Errorf("%w: genesis needs a signing key and a signer", ErrInvalidOp)
	}
	op := &Op{
		Type:                TypeOperation,
		RotationKeys:        make([]string, len(rotationKeys)),
		VerificationMethods: map[string]string{},
		AlsoKnownAs:         []string{},
		Services:            map[string]Service{},
	}
	signerAllowed := false
	for i, k := range rotationKeys {
		if k == nil {
			return "", nil, fmt.Errorf("%w: nil rotation key", ErrInvalidOp)
		}
		op.RotationKeys[i] = k.DIDKey()
		signerAllowed = signerAllowed || k.Equal(signer.Public())
	}
	if !signerAllowed {
		return "", nil, fmt.Errorf("%w: the signer is not one of the rotation keys", ErrInvalidOp)
	}
	op.SetSigningKey(signingKey)
	if handle != "" {
		op.SetHandle(handle)
	}
	if pdsEndpoint != "" {
		op.SetPDSEndpoint(pdsEndpoint)
	}
	if err := op.Sign(signer); err != nil {
		return "", nil, fmt.Errorf("create genesis: %w", err)
	}
	did, err := op.DID()
	if err != nil {
		return "", nil, fmt.Errorf("create genesis: %w", err)
	}
	return did, op, nil
}

// NewUpdate returns an unsigned plc_operation that follows prev: a copy of
// prev's state with Prev set to prev's CID. Change it (the Set methods or
// the fields), then Sign it with one of prev's rotation keys.
func NewUpdate(prev *Op) (*Op, error) {
	if prev.Type != TypeOperation {
		return nil, fmt.Errorf("%w: cannot follow a %q", ErrWrongPrev, truncate(prev.Type))
	}
	c, err := prev.CID()
	if err != nil {
		return nil, fmt.Errorf("previous operation: %w", err)
	}
	op := prev.Clone()
	op.Prev = c
	op.Sig = nil
	return op, nil
}

// NewTombstone returns an unsigned plc_tombstone that follows prev; Sign
// it with one of prev's rotation keys.
func NewTombstone(prev *Op) (*Op, error) {
	if prev.Type != TypeOperation {
		return nil, fmt.Errorf("%w: cannot follow a %q", ErrWrongPrev, truncate(prev.Type))
	}
	c, err := prev.CID()
	if err != nil {
		return nil, fmt.Errorf("previous operation: %w", err)
	}
	return &Op{Type: TypeTombstone, Prev: c}, nil
}

// SetSigningKey sets the atproto repository signing key and clears Sig.
func (op *Op) SetSigningKey(k crypto.PublicKey) {
	if op.VerificationMethods == nil {
		op.VerificationMethods = map[string]string{}
	}
	op.VerificationMethods[SigningKeyID] = k.DIDKey()
	op.Sig = nil
}

// SetHandle makes handle (without "at://") the declared handle, replacing
// the first at:// entry or putting it first, and clears Sig.
func (op *Op) SetHandle(handle string) {
	uri := handlePrefix + handle
	i := slices.IndexFunc(op.AlsoKnownAs, func(s string) bool { return strings.HasPrefix(s, handlePrefix) })
	if i >= 0 {
		op.AlsoKnownAs = slices.Clone(op.AlsoKnownAs)
		op.AlsoKnownAs[i] = uri
	} else {
		op.AlsoKnownAs = append([]string{uri}, op.AlsoKnownAs...)
	}
	op.Sig = nil
}

// SetPDSEndpoint sets the atproto_pds service and clears Sig.
func (op *Op) SetPDSEndpoint(endpoint string) {
	if op.Services == nil {
		op.Services = map[string]Service{}
	}
	op.Services[PDSServiceID] = Service{Type: PDSType, Endpoint: endpoint}
	op.Sig = nil
}
