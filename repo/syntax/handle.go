package syntax

import "strings"

// MaxHandleLen is the length limit on a handle (the DNS name limit).
const MaxHandleLen = 253

// maxLabelLen is the DNS limit on one dot-separated label.
const maxLabelLen = 63

// HandleInvalid is the placeholder handle that atproto services report when
// an account's handle fails bidirectional verification.
const HandleInvalid Handle = "handle.invalid"

// Handle is a syntactically valid atproto handle (a DNS hostname such as
// "alice.bsky.social"). Obtain one from ParseHandle. Handles are
// case-insensitive; compare Normalize()d values.
type Handle string

// ParseHandle validates s against the handle syntax: ASCII, at most 253
// characters, two or more dot-separated labels of 1-63 characters from
// [A-Za-z0-9-] that neither start nor end with '-', and a final label (TLD)
// that starts with a letter. Reserved TLDs such as .local are syntactically
// valid; check AllowedTLD before accepting a handle for an account.
func ParseHandle(s string) (Handle, error) {
	if reason := checkHandle(s); reason != "" {
		return "", invalid(ErrInvalidHandle, s, reason)
	}
	return Handle(s), nil
}

func checkHandle(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > MaxHandleLen {
		return "longer than 253 characters"
	}
	labels := 0
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		if reason := checkDomainLabel(s[start:i]); reason != "" {
			return reason
		}
		labels++
		if i == len(s) && !isAlpha(s[start]) {
			return "top-level domain must start with a letter"
		}
		start = i + 1
	}
	if labels < 2 {
		return "must have at least two labels"
	}
	return ""
}

// checkDomainLabel checks one DNS label: 1-63 characters of [A-Za-z0-9-],
// not starting or ending with a hyphen.
func checkDomainLabel(l string) string {
	if l == "" {
		return "empty label"
	}
	if len(l) > maxLabelLen {
		return "label longer than 63 characters"
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return "label starts or ends with '-'"
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; !isAlnum(c) && c != '-' {
			return "label has a disallowed character"
		}
	}
	return ""
}

// Normalize returns the handle in lower case, its canonical form.
func (h Handle) Normalize() Handle {
	for i := 0; i < len(h); i++ {
		if isUpper(h[i]) {
			return Handle(strings.ToLower(string(h)))
		}
	}
	return h
}

// TLD returns the lower-cased top-level domain (the last label).
func (h Handle) TLD() string {
	s := string(h)
	return strings.ToLower(s[strings.LastIndexByte(s, '.')+1:])
}

// AllowedTLD reports whether the handle's TLD may be used for an account.
// The handle spec disallows the special-use TLDs below even though they are
// syntactically valid; ".test" stays allowed for development.
func (h Handle) AllowedTLD() bool {
	switch h.TLD() {
	case "alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion":
		return false
	}
	return true
}

// IsInvalidHandle reports whether h is the "handle.invalid" placeholder.
func (h Handle) IsInvalidHandle() bool { return h.Normalize() == HandleInvalid }

// AtIdentifier returns h as an at-identifier.
func (h Handle) AtIdentifier() AtIdentifier { return AtIdentifier(h) }

// String returns the handle as a string.
func (h Handle) String() string { return string(h) }

// MarshalText implements encoding.TextMarshaler.
func (h Handle) MarshalText() ([]byte, error) { return []byte(h), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates the input.
func (h *Handle) UnmarshalText(b []byte) error {
	v, err := ParseHandle(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}
