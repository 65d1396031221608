package syntax

import (
	"strings"
	"unicode/utf8"
)

// MaxATURILen is the overall length limit on an AT-URI.
const MaxATURILen = 8192

const atScheme = "at://"

// ATURI is a valid AT-URI in the restricted form used by Lexicon:
//
//	"at://" AUTHORITY [ "/" COLLECTION [ "/" RKEY ] ] [ "#" FRAGMENT ]
//
// AUTHORITY is a DID or handle, COLLECTION an NSID, RKEY a record key, and
// FRAGMENT an RFC 6901 JSON pointer (it starts with '/'). A query part,
// extra path segments and a trailing slash are rejected. Obtain one from
// ParseATURI or RecordURI. The zero value is not a valid AT-URI.
//
// The struct keeps the offsets found while parsing, so accessors are
// slicing only. Values are comparable with ==.
type ATURI struct {
	raw     string
	authEnd int32 // end of the authority
	collEnd int32 // end of the collection; == authEnd when absent
	pathEnd int32 // end of the path (start of '#' or len); == collEnd when no rkey
}

// ParseATURI validates s as a restricted AT-URI (see ATURI).
func ParseATURI(s string) (ATURI, error) {
	u, reason := scanATURI(s)
	if reason != "" {
		return ATURI{}, invalid(ErrInvalidATURI, s, reason)
	}
	return u, nil
}

func scanATURI(s string) (ATURI, string) {
	if len(s) > MaxATURILen {
		return ATURI{}, "longer than 8192 characters"
	}
	if !strings.HasPrefix(s, atScheme) {
		return ATURI{}, `must start with "at://"`
	}
	pathEnd := len(s)
	if h := strings.IndexByte(s, '#'); h >= 0 {
		if reason := checkFragment(s[h+1:]); reason != "" {
			return ATURI{}, reason
		}
		pathEnd = h
	}
	rest := s[len(atScheme):pathEnd]
	authLen := strings.IndexByte(rest, '/')
	if authLen < 0 {
		authLen = len(rest)
	}
	u := ATURI{raw: s, authEnd: int32(len(atScheme) + authLen)}
	u.collEnd, u.pathEnd = u.authEnd, u.authEnd
	if reason := checkAtIdentifier(rest[:authLen]); reason != "" {
		return ATURI{}, "authority: " + reason
	}
	if authLen == len(rest) {
		return u, ""
	}
	path := rest[authLen+1:]
	collLen := strings.IndexByte(path, '/')
	if collLen < 0 {
		collLen = len(path)
	}
	if reason := checkNSID(path[:collLen]); reason != "" {
		return ATURI{}, "collection: " + reason
	}
	u.collEnd = u.authEnd + 1 + int32(collLen)
	u.pathEnd = u.collEnd
	if collLen == len(path) {
		return u, ""
	}
	// checkRecordKey rejects '/', so extra segments and a trailing slash
	// fail here too.
	if reason := checkRecordKey(path[collLen+1:]); reason != "" {
		return ATURI{}, "record key: " + reason
	}
	u.pathEnd = int32(pathEnd)
	return u, ""
}

// checkFragment accepts a JSON pointer made of RFC 3986 fragment characters
// (without '?' and '#'), with well-formed percent-escapes that decode to
// UTF-8. This matches the reference TypeScript validator.
func checkFragment(f string) string {
	if f == "" || f[0] != '/' {
		return "fragment must be a JSON pointer starting with '/'"
	}
	escaped := false
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c == '%' {
			if i+2 >= len(f) || !isHex(f[i+1]) || !isHex(f[i+2]) {
				return "fragment has a malformed percent-escape"
			}
			escaped = true
			i += 2
			continue
		}
		if !isFragmentChar(c) {
			return "fragment has a disallowed character"
		}
	}
	if escaped && !utf8.ValidString(percentDecode(f)) {
		return "fragment percent-escapes are not UTF-8"
	}
	return ""
}

func isFragmentChar(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '.', '_', '~', ':', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '[', ']', '/', '-':
		return true
	}
	return false
}

// percentDecode decodes escapes already checked by checkFragment.
func percentDecode(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// RecordURI builds the AT-URI of a record. Valid parts always make a valid
// URI, so there is no error.
func RecordURI(did DID, collection NSID, rkey RecordKey) ATURI {
	s := atScheme + string(did) + "/" + string(collection) + "/" + string(rkey)
	authEnd := int32(len(atScheme) + len(did))
	collEnd := authEnd + 1 + int32(len(collection))
	return ATURI{raw: s, authEnd: authEnd, collEnd: collEnd, pathEnd: int32(len(s))}
}

// Authority returns the DID or handle part.
func (u ATURI) Authority() AtIdentifier {
	if u.raw == "" {
		return ""
	}
	return AtIdentifier(u.raw[len(atScheme):u.authEnd])
}

// Collection returns the collection NSID, or "" if the URI has none.
func (u ATURI) Collection() NSID {
	if u.collEnd == u.authEnd {
		return ""
	}
	return NSID(u.raw[u.authEnd+1 : u.collEnd])
}

// RecordKey returns the record key, or "" if the URI has none.
func (u ATURI) RecordKey() RecordKey {
	if u.pathEnd == u.collEnd {
		return ""
	}
	return RecordKey(u.raw[u.collEnd+1 : u.pathEnd])
}

// Path returns the repo path "<collection>/<rkey>", or "" if the URI does
// not name a record.
func (u ATURI) Path() string {
	if u.pathEnd == u.collEnd {
		return ""
	}
	return u.raw[u.authEnd+1 : u.pathEnd]
}

// Fragment returns the fragment without its '#', or "" if there is none.
func (u ATURI) Fragment() string {
	if int(u.pathEnd) >= len(u.raw) {
		return ""
	}
	return u.raw[u.pathEnd+1:]
}

// String returns the URI exactly as parsed.
func (u ATURI) String() string { return u.raw }

// IsZero reports whether u is the zero value.
func (u ATURI) IsZero() bool { return u.raw == "" }

// MarshalText implements encoding.TextMarshaler.
func (u ATURI) MarshalText() ([]byte, error) { return []byte(u.raw), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates the input.
func (u *ATURI) UnmarshalText(b []byte) error {
	v, err := ParseATURI(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}
