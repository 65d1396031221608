package syntax

// MaxURILen is the length limit on a Lexicon "uri" string.
const MaxURILen = 8192

// URI is a string passing the loose Lexicon "uri" format check. It is a
// cheap syntax filter, not an RFC 3986 parser: use net/url to work with the
// parts. Obtain one from ParseURI.
type URI string

// ParseURI validates s as a generic URI: a lower-case scheme (a letter then
// letters, digits, '+', '-' or '.') of at most 81 characters, a ':', and one
// or more printable non-space ASCII characters; at most 8192 characters
// overall.
func ParseURI(s string) (URI, error) {
	if reason := checkURI(s); reason != "" {
		return "", invalid(ErrInvalidURI, s, reason)
	}
	return URI(s), nil
}

func checkURI(s string) string {
	if len(s) > MaxURILen {
		return "longer than 8192 characters"
	}
	if s == "" || !isLower(s[0]) {
		return "scheme must start with a lower-case letter"
	}
	i := 1
	for i < len(s) && (isLower(s[i]) || isDigit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') {
		i++
	}
	if i > 81 {
		return "scheme longer than 81 characters"
	}
	if i == len(s) || s[i] != ':' {
		return "scheme must be followed by ':'"
	}
	i++
	if i == len(s) {
		return "nothing after the scheme"
	}
	for ; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "whitespace, control or non-ASCII character"
		}
	}
	return ""
}

// String returns the URI as a string.
func (u URI) String() string { return string(u) }

// MarshalText implements encoding.TextMarshaler.
func (u URI) MarshalText() ([]byte, error) { return []byte(u), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates the input.
func (u *URI) UnmarshalText(b []byte) error {
	v, err := ParseURI(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}
