package syntax

import "strings"

// MaxNSIDLen is the overall length limit on an NSID.
const MaxNSIDLen = 317

// NSID is a syntactically valid namespaced identifier such as
// "app.bsky.feed.post": a reversed domain authority followed by a name.
// Obtain one from ParseNSID.
type NSID string

// ParseNSID validates s against the NSID syntax: ASCII, at most 317
// characters, at least three dot-separated segments. The authority segments
// are DNS labels (1-63 of [A-Za-z0-9-], no leading or trailing '-') whose
// first segment (the TLD) does not start with a digit; the final name
// segment is 1-63 letters and digits starting with a letter. The name is
// case-sensitive; the authority is not.
func ParseNSID(s string) (NSID, error) {
	if reason := checkNSID(s); reason != "" {
		return "", invalid(ErrInvalidNSID, s, reason)
	}
	return NSID(s), nil
}

func checkNSID(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > MaxNSIDLen {
		return "longer than 317 characters"
	}
	last := strings.LastIndexByte(s, '.')
	if last < 0 {
		return "must have at least three segments"
	}
	// The spec also caps the authority at 253 characters, but the interop
	// vectors accept a 280-character one, so only the overall limit applies.
	authority := s[:last]
	segments := 0
	start := 0
	for i := 0; i <= len(authority); i++ {
		if i < len(authority) && authority[i] != '.' {
			continue
		}
		if reason := checkDomainLabel(authority[start:i]); reason != "" {
			return "authority " + reason
		}
		if segments == 0 && isDigit(authority[0]) {
			return "first segment must not start with a digit"
		}
		segments++
		start = i + 1
	}
	if segments < 2 {
		return "must have at least three segments"
	}
	return checkNSIDName(s[last+1:])
}

func checkNSIDName(name string) string {
	if name == "" {
		return "empty name"
	}
	if len(name) > maxLabelLen {
		return "name longer than 63 characters"
	}
	if !isAlpha(name[0]) {
		return "name must start with a letter"
	}
	for i := 1; i < len(name); i++ {
		if !isAlnum(name[i]) {
			return "name may only contain letters and digits"
		}
	}
	return ""
}

// Authority returns the domain authority in DNS order and lower case, e.g.
// "feed.bsky.app" for "app.bsky.feed.post".
func (n NSID) Authority() string {
	s := string(n)
	last := strings.LastIndexByte(s, '.')
	if last < 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(last)
	end := last
	for i := last - 1; i >= -1; i-- {
		if i >= 0 && s[i] != '.' {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s[i+1 : end])
		end = i
	}
	return strings.ToLower(b.String())
}

// Name returns the final segment, e.g. "post" for "app.bsky.feed.post".
func (n NSID) Name() string {
	s := string(n)
	return s[strings.LastIndexByte(s, '.')+1:]
}

// Normalize lower-cases the authority and keeps the name's case, the
// canonical form of an NSID.
func (n NSID) Normalize() NSID {
	s := string(n)
	last := strings.LastIndexByte(s, '.')
	for i := 0; i < last; i++ {
		if isUpper(s[i]) {
			return NSID(strings.ToLower(s[:last]) + s[last:])
		}
	}
	return n
}

// String returns the NSID as a string.
func (n NSID) String() string { return string(n) }

// MarshalText implements encoding.TextMarshaler.
func (n NSID) MarshalText() ([]byte, error) { return []byte(n), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates the input.
func (n *NSID) UnmarshalText(b []byte) error {
	v, err := ParseNSID(string(b))
	if err != nil {
		return err
	}
	*n = v
	return nil
}
