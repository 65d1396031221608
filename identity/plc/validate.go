package plc

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// validateFields checks everything but the signature and the encoded size,
// and returns the parsed rotation keys (none for a tombstone): parsing a
// key decompresses a curve point, which is worth doing once.
func (op *Op) validateFields() ([]crypto.PublicKey, error) {
	if err := op.checkType(); err != nil {
		return nil, err
	}
	if op.IsTombstone() {
		if !op.Prev.Defined() {
			return nil, fmt.Errorf("%w: tombstone without prev", ErrInvalidOp)
		}
		if op.RotationKeys != nil || op.VerificationMethods != nil || op.AlsoKnownAs != nil || op.Services != nil {
			return nil, fmt.Errorf("%w: tombstone carries only prev and sig", ErrInvalidOp)
		}
		return nil, nil
	}
	rotation, err := op.validateRotationKeys()
	if err != nil {
		return nil, err
	}
	for _, check := range []func() error{
		op.validateVerificationMethods, op.validateAlsoKnownAs, op.validateServices,
	} {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return rotation, nil
}

func (op *Op) validateRotationKeys() ([]crypto.PublicKey, error) {
	n := len(op.RotationKeys)
	if n < 1 || n > MaxRotationKeys {
		return nil, fmt.Errorf("%w: %d rotation keys, want 1 to %d", ErrInvalidOp, n, MaxRotationKeys)
	}
	keys := make([]crypto.PublicKey, n)
	for i, k := range op.RotationKeys {
		// The spec forbids duplicates: a repeated key would count twice
		// in the authority order without meaning anything.
		for _, prev := range op.RotationKeys[:i] {
			if prev == k {
				return nil, fmt.Errorf("%w: duplicate rotation key %q", ErrInvalidOp, truncate(k))
			}
		}
		pub, err := crypto.ParseDIDKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: rotation key %q: %w", ErrInvalidOp, truncate(k), err)
		}
		keys[i] = pub
	}
	return keys, nil
}

func (op *Op) validateVerificationMethods() error {
	if n := len(op.VerificationMethods); n > MaxVerificationMethods {
		return fmt.Errorf("%w: %d verification methods, limit %d", ErrInvalidOp, n, MaxVerificationMethods)
	}
	for id, k := range op.VerificationMethods {
		if err := checkID(id); err != nil {
			return fmt.Errorf("%w: verification method: %w", ErrInvalidOp, err)
		}
		if _, err := crypto.ParseDIDKey(k); err != nil {
			return fmt.Errorf("%w: verification method %q: %w", ErrInvalidOp, id, err)
		}
	}
	return nil
}

func (op *Op) validateAlsoKnownAs() error {
	if n := len(op.AlsoKnownAs); n > MaxAlsoKnownAs {
		return fmt.Errorf("%w: %d alsoKnownAs entries, limit %d", ErrInvalidOp, n, MaxAlsoKnownAs)
	}
	for i, aka := range op.AlsoKnownAs {
		if aka == "" || len(aka) > MaxAlsoKnownAsLen {
			return fmt.Errorf("%w: alsoKnownAs entry of %d bytes, want 1 to %d", ErrInvalidOp, len(aka), MaxAlsoKnownAsLen)
		}
		if h, ok := strings.CutPrefix(aka, handlePrefix); ok {
			if _, err := syntax.ParseHandle(h); err != nil {
				return fmt.Errorf("%w: alsoKnownAs %q: %w", ErrInvalidOp, truncate(aka), err)
			}
		} else if u, err := url.Parse(aka); err != nil || u.Scheme == "" {
			return fmt.Errorf("%w: alsoKnownAs %q is not a URI", ErrInvalidOp, truncate(aka))
		}
		for _, prev := range op.AlsoKnownAs[:i] {
			if prev == aka {
				return fmt.Errorf("%w: duplicate alsoKnownAs %q", ErrInvalidOp, truncate(aka))
			}
		}
	}
	return nil
}

func (op *Op) validateServices() error {
	if n := len(op.Services); n > MaxServices {
		return fmt.Errorf("%w: %d services, limit %d", ErrInvalidOp, n, MaxServices)
	}
	for id, s := range op.Services {
		if err := checkID(id); err != nil {
			return fmt.Errorf("%w: service: %w", ErrInvalidOp, err)
		}
		if s.Type == "" || len(s.Type) > MaxServiceTypeLen {
			return fmt.Errorf("%w: service %q: type of %d bytes, want 1 to %d", ErrInvalidOp, id, len(s.Type), MaxServiceTypeLen)
		}
		if err := checkEndpoint(s.Endpoint); err != nil {
			return fmt.Errorf("%w: service %q: %w", ErrInvalidOp, id, err)
		}
	}
	return nil
}

// checkID checks a services or verificationMethods key: the document
// renders it as "#"+id, so it must not carry its own '#'.
func checkID(id string) error {
	switch {
	case id == "" || len(id) > MaxIDLen:
		return fmt.Errorf("id of %d bytes, want 1 to %d", len(id), MaxIDLen)
	case strings.ContainsAny(id, "#/?"):
		return fmt.Errorf("id %q must not contain '#', '/' or '?'", truncate(id))
	}
	return nil
}

// checkEndpoint accepts an absolute http(s) URL with a host and no user
// info or fragment. Resolvers are stricter about the PDS (an origin only);
// the directory only keeps out what no client could use.
func checkEndpoint(s string) error {
	if s == "" || len(s) > MaxServiceEndpointLen {
		return fmt.Errorf("endpoint of %d bytes, want 1 to %d", len(s), MaxServiceEndpointLen)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("endpoint %q: %w", truncate(s), err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("endpoint %q: scheme must be http or https", truncate(s))
	case u.Hostname() == "":
		return fmt.Errorf("endpoint %q: no host", truncate(s))
	case u.User != nil || u.Fragment != "" || u.Opaque != "":
		return fmt.Errorf("endpoint %q: no user info or fragment allowed", truncate(s))
	}
	return nil
}

// CheckDID checks that did is a did:plc identifier: "did:plc:" and 24
// lower-case base32 characters.
func CheckDID(did string) error {
	id, ok := strings.CutPrefix(did, didPrefix)
	if !ok || len(id) != plcIDLen || strings.Trim(id, base32LowerAlphabet) != "" {
		return fmt.Errorf("%w: %q", ErrInvalidDID, truncate(did))
	}
	return nil
}
