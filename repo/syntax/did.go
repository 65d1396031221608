package syntax

// MaxDIDLen is the hard length limit on a DID from the atproto DID spec.
const MaxDIDLen = 2048

// DID is a syntactically valid decentralized identifier such as
// "did:plc:ewvi7nxzyoun6zhxrhs64oiz". Obtain one from ParseDID.
//
// Only the generic DID syntax is checked, not whether the method is one of
// the atproto "blessed" methods (plc, web); resolution decides that.
type DID string

// ParseDID validates s against the atproto DID syntax:
// "did:" + lowercase method + ":" + identifier, where the identifier uses
// [A-Za-z0-9._:%-] and does not end in ':' or '%'. Percent-encoding is not
// decoded or checked further; the spec leaves that to DID methods.
func ParseDID(s string) (DID, error) {
	if reason := checkDID(s); reason != "" {
		return "", invalid(ErrInvalidDID, s, reason)
	}
	return DID(s), nil
}

func checkDID(s string) string {
	if len(s) > MaxDIDLen {
		return "longer than 2048 characters"
	}
	if len(s) < 4 || s[:4] != "did:" {
		return `must start with "did:"`
	}
	i := 4
	for i < len(s) && isLower(s[i]) {
		i++
	}
	if i == 4 {
		return "method must be one or more lowercase letters"
	}
	if i == len(s) || s[i] != ':' {
		return "method must be lowercase letters followed by ':'"
	}
	i++
	if i == len(s) {
		return "empty identifier"
	}
	for ; i < len(s); i++ {
		if !isDIDIdentChar(s[i]) {
			return "identifier has a disallowed character"
		}
	}
	if last := s[len(s)-1]; last == ':' || last == '%' {
		return "identifier must not end in ':' or '%'"
	}
	return ""
}

func isDIDIdentChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == ':' || c == '%' || c == '-'
}

// Method returns the DID method, e.g. "plc". It is empty for a value that did
// not come from ParseDID and has no method separator.
func (d DID) Method() string {
	s := string(d)
	if len(s) < 4 {
		return ""
	}
	for i := 4; i < len(s); i++ {
		if s[i] == ':' {
			return s[4:i]
		}
	}
	return ""
}

// Identifier returns the method-specific identifier, everything after the
// method's colon (which may itself contain colons).
func (d DID) Identifier() string {
	s := string(d)
	if len(s) < 4 {
		return ""
	}
	for i := 4; i < len(s); i++ {
		if s[i] == ':' {
			return s[i+1:]
		}
	}
	return ""
}

// AtIdentifier returns d as an at-identifier.
func (d DID) AtIdentifier() AtIdentifier { return AtIdentifier(d) }

// String returns the DID as a string.
func (d DID) String() string { return string(d) }

// MarshalText implements encoding.TextMarshaler.
func (d DID) MarshalText() ([]byte, error) { return []byte(d), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates the input.
func (d *DID) UnmarshalText(b []byte) error {
	v, err := ParseDID(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
