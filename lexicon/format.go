package lexicon

import (
	"errors"
	"strings"

	"github.com/rivo/uniseg"

	"github.com/conflux-atproto/conflux/repo/syntax"
)

// formats maps each Lexicon string format to its checker. The syntax parsers
// do not allocate on valid input, so checking a format costs no garbage.
var formats = map[string]func(string) error{
	"at-identifier": func(s string) error { _, err := syntax.ParseAtIdentifier(s); return err },
	"at-uri":        func(s string) error { _, err := syntax.ParseATURI(s); return err },
	"cid":           checkCIDString,
	"datetime":      func(s string) error { _, err := syntax.ParseDatetime(s); return err },
	"did":           func(s string) error { _, err := syntax.ParseDID(s); return err },
	"handle":        func(s string) error { _, err := syntax.ParseHandle(s); return err },
	"nsid":          func(s string) error { _, err := syntax.ParseNSID(s); return err },
	"tid":           func(s string) error { _, err := syntax.ParseTID(s); return err },
	"record-key":    func(s string) error { _, err := syntax.ParseRecordKey(s); return err },
	"uri":           func(s string) error { _, err := syntax.ParseURI(s); return err },
	"language":      func(s string) error { _, err := syntax.ParseLanguage(s); return err },
}

var errCIDString = errors.New("invalid CID string")

func checkCIDString(s string) error {
	if !syntax.ValidCIDString(s) {
		return errCIDString
	}
	return nil
}

// graphemeCount counts the extended grapheme clusters of s (Unicode UAX #29),
// which is what maxGraphemes and minGraphemes limit.
//
// ASCII text takes a fast path: there every byte is its own cluster except
// that CR LF is one.
func graphemeCount(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return uniseg.GraphemeClusterCount(s)
		}
	}
	return len(s) - strings.Count(s, "\r\n")
}

// graphemesWithin reports whether s has between lo and hi grapheme clusters
// (either bound may be nil). A string never has more clusters than bytes, so
// short strings pass an upper bound without being segmented.
func graphemesWithin(s string, lo, hi *int64) (n int, ok bool) {
	if lo == nil && hi != nil && int64(len(s)) <= *hi {
		return 0, true
	}
	if lo != nil && int64(len(s)) < *lo {
		return graphemeCount(s), false
	}
	n = graphemeCount(s)
	if lo != nil && int64(n) < *lo {
		return n, false
	}
	if hi != nil && int64(n) > *hi {
		return n, false
	}
	return n, true
}

// mimeAccepted reports whether mimeType matches one of the accept patterns:
// "type/subtype" exactly, "type/*", or "*/*". MIME types are matched
// case-insensitively, as RFC 2045 says.
func mimeAccepted(accept []string, mimeType string) bool {
	for _, pat := range accept {
		if pat == "*/*" {
			return true
		}
		if prefix, ok := strings.CutSuffix(pat, "/*"); ok {
			if len(mimeType) > len(prefix) && mimeType[len(prefix)] == '/' &&
				strings.EqualFold(mimeType[:len(prefix)], prefix) {
				return true
			}
			continue
		}
		if strings.EqualFold(pat, mimeType) {
			return true
		}
	}
	return false
}
