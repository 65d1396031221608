package syntax

import "strings"

// AtIdentifier is either a DID or a handle, as used for the authority of an
// AT-URI and in many XRPC parameters. Obtain one from ParseAtIdentifier.
type AtIdentifier string

// ParseAtIdentifier accepts a valid DID or a valid handle. Input starting
// "did:" is judged as a DID only, since a handle cannot contain ':'; the
// error then explains the DID problem rather than a handle one.
func ParseAtIdentifier(s string) (AtIdentifier, error) {
	if reason := checkAtIdentifier(s); reason != "" {
		return "", invalid(ErrInvalidAtIdentifier, s, reason)
	}
	return AtIdentifier(s), nil
}

func checkAtIdentifier(s string) string {
	if strings.HasPrefix(s, "did:") {
		if reason := checkDID(s); reason != "" {
			return "DID: " + reason
		}
		return ""
	}
	if reason := checkHandle(s); reason != "" {
		return "handle: " + reason
	}
	return ""
}

// IsDID reports whether the identifier is a DID.
func (a AtIdentifier) IsDID() bool { return strings.HasPrefix(string(a), "did:") }

// IsHandle reports whether the identifier is a handle.
func (a AtIdentifier) IsHandle() bool { return a != "" && !a.IsDID() }

// AsDID returns the identifier as a DID, if it is one.
func (a AtIdentifier) AsDID() (DID, bool) {
	if a.IsDID() {
		return DID(a), true
	}
	return "", false
}

// AsHandle returns the identifier as a handle, if it is one.
func (a AtIdentifier) AsHandle() (Handle, bool) {
	if a.IsHandle() {
		return Handle(a), true
	}
	return "", false
}

// Normalize returns the canonical form: handles lower-cased, DIDs unchanged
// (DIDs are case-sensitive).
func (a AtIdentifier) Normalize() AtIdentifier {
	if h, ok := a.AsHandle(); ok {
		return AtIdentifier(h.Normalize())
	}
	return a
}

// String returns the identifier as a string.
func (a AtIdentifier) String() string { return string(a) }

// MarshalText implements encoding.TextMarshaler.
func (a AtIdentifier) MarshalText() ([]byte, error) { return []byte(a), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates the input.
func (a *AtIdentifier) UnmarshalText(b []byte) error {
	v, err := ParseAtIdentifier(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
