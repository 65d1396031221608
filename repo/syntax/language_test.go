package syntax

import (
	"errors"
	"strings"
	"testing"
)

// Cases beyond the interop vectors, covering each production of RFC 5646.
func TestLanguageGrammar(t *testing.T) {
	t.Parallel()
	valid := []string{
		"en", "en-us", "en-US", "zh-yue-HK", "zh-min-nan", "ar-aao-aao-aao", "sr-Latn-RS",
		"de-1996", "es-419", "x-whatever", "x-a-b-c", "en-x-1-2-3", "en-a-bbb-x-a-a",
		"i-klingon", "sgn-CH-DE", "en-GB-oed", "en-9-ab", "en-Latn-US-valencia-u-ca-gregory",
	}
	for _, s := range valid {
		if _, err := ParseLanguage(s); err != nil {
			t.Errorf("ParseLanguage(%q): %v", s, err)
		}
	}
	invalid := []string{
		"", "e", "english", "EN", "En", "en--US", "-en", "en_US", "en-US-", "x", "x-", "x-toolongsubtag",
		"en-a", "en-a-x-b", "en-a-b", "en-Latn-Latn-US-US", "en-123456789", "en-US-abc",
		"i-bogus", "I-KLINGON", "zh-a-a-b", "de-419-DE", "en-x-", "ar-aao-aao-aao-aao",
		strings.Repeat("a", 2) + strings.Repeat("-abcde", 30),
	}
	for _, s := range invalid {
		if _, err := ParseLanguage(s); !errors.Is(err, ErrInvalidLanguage) {
			t.Errorf("ParseLanguage(%q) err = %v, want ErrInvalidLanguage", s, err)
		}
	}
}

func TestURIAndCIDString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"git+ssh://host/x", "h2:x", "at://did:plc:x"} {
		if _, err := ParseURI(s); err != nil {
			t.Errorf("ParseURI(%q): %v", s, err)
		}
	}
	for _, s := range []string{"HTTP://x", "http://a\tb", "http://é", "a" + strings.Repeat("b", 81) + ":x"} {
		if _, err := ParseURI(s); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("ParseURI(%q) err = %v", s, err)
		}
	}
	if !ValidCIDString("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm") {
		t.Error("dag-cbor CIDv1 rejected")
	}
	if !ValidCIDString("Qm" + strings.Repeat("a", 45)) { // 47 chars: not a CIDv0 shape
		t.Error("47-char Qm string rejected")
	}
	if ValidCIDString("Qm"+strings.Repeat("a", 44)) || ValidCIDString(strings.Repeat("a", 257)) || ValidCIDString("abcdefg") {
		t.Error("CIDv0, over-long or short string accepted")
	}
}
