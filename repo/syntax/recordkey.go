package syntax

import "strings"

// MaxRecordKeyLen is the length limit on a record key.
const MaxRecordKeyLen = 512

// RecordKey is a syntactically valid record key (the last part of a repo
// path, e.g. a TID or "self"). Obtain one from ParseRecordKey.
type RecordKey string

// ParseRecordKey validates s against the record-key syntax: 1-512
// characters from [A-Za-z0-9._:~-], and not "." or "..". Record keys are
// case-sensitive.
func ParseRecordKey(s string) (RecordKey, error) {
	if reason := checkRecordKey(s); reason != "" {
		return "", invalid(ErrInvalidRecordKey, s, reason)
	}
	return RecordKey(s), nil
}

func checkRecordKey(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > MaxRecordKeyLen {
		return "longer than 512 characters"
	}
	if s == "." || s == ".." {
		return `"." and ".." are not allowed`
	}
	for i := 0; i < len(s); i++ {
		if !isRecordKeyChar(s[i]) {
			return "disallowed character"
		}
	}
	return ""
}

func isRecordKeyChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == ':' || c == '~' || c == '-'
}

// String returns the record key as a string.
func (r RecordKey) String() string { return string(r) }

// MarshalText implements encoding.TextMarshaler.
func (r RecordKey) MarshalText() ([]byte, error) { return []byte(r), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates the input.
func (r *RecordKey) UnmarshalText(b []byte) error {
	v, err := ParseRecordKey(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseRepoPath splits a repository path "<collection>/<rkey>" (an MST key)
// and validates both halves: exactly one '/', a valid NSID before it and a
// valid record key after it.
func ParseRepoPath(path string) (NSID, RecordKey, error) {
	i := strings.IndexByte(path, '/')
	if i < 0 {
		return "", "", invalid(ErrInvalidRepoPath, path, "missing '/'")
	}
	if reason := checkNSID(path[:i]); reason != "" {
		return "", "", invalid(ErrInvalidRepoPath, path, "collection: "+reason)
	}
	if reason := checkRecordKey(path[i+1:]); reason != "" {
		return "", "", invalid(ErrInvalidRepoPath, path, "record key: "+reason)
	}
	return NSID(path[:i]), RecordKey(path[i+1:]), nil
}

// ValidRepoPath reports whether path is a valid "<collection>/<rkey>"
// repository path. It does not allocate.
func ValidRepoPath(path string) bool {
	i := strings.IndexByte(path, '/')
	return i >= 0 && checkNSID(path[:i]) == "" && checkRecordKey(path[i+1:]) == ""
}

// RepoPath joins a collection and record key into a repository path.
func RepoPath(collection NSID, rkey RecordKey) string {
	return string(collection) + "/" + string(rkey)
}
