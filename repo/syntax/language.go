package syntax

import "strings"

// MaxLanguageLen caps a language tag. RFC 5646 sets no limit, but real tags
// are far shorter and an unbounded field invites abuse.
const MaxLanguageLen = 128

// Language is a valid BCP 47 (RFC 5646) language tag such as "pt-BR" or
// "zh-Hant". Obtain one from ParseLanguage. BCP 47 compares tags
// case-insensitively; Language keeps the input unchanged.
type Language string

// irregularTags are the grandfathered tags that do not fit the langtag
// grammar (RFC 5646 section 2.1, "irregular"). The "regular" grandfathered
// tags, such as zh-hakka, do fit it and need no list.
var irregularTags = [...]string{
	"en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak",
	"i-klingon", "i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay",
	"i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE",
}

// ParseLanguage validates s as a well-formed and "valid" (RFC 5646 sections
// 2.2.9 and 4.1) language tag: the langtag, private-use or grandfathered
// grammar, with no repeated variant or extension singleton.
//
// Two atproto-specific restrictions follow the interop vectors: the primary
// language subtag must be two or three lower-case letters (the reserved
// four-letter and registered five-to-eight-letter forms and upper-case
// "JA" are rejected), and the whole tag is at most 128 characters. Other
// subtags are case-insensitive, as RFC 5646 says.
func ParseLanguage(s string) (Language, error) {
	if reason := checkLanguage(s); reason != "" {
		return "", invalid(ErrInvalidLanguage, s, reason)
	}
	return Language(s), nil
}

// String returns the tag as a string.
func (l Language) String() string { return string(l) }

// MarshalText implements encoding.TextMarshaler.
func (l Language) MarshalText() ([]byte, error) { return []byte(l), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates the input.
func (l *Language) UnmarshalText(b []byte) error {
	v, err := ParseLanguage(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

func checkLanguage(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > MaxLanguageLen {
		return "longer than 128 characters"
	}
	for _, tag := range irregularTags {
		if isLower(s[0]) && strings.EqualFold(s, tag) {
			return ""
		}
	}
	sub := subtags{s: s}
	first, _, _ := sub.next()
	if first == "x" || first == "X" {
		return checkPrivateUse(&sub)
	}
	return checkLangtag(first, &sub)
}

// subtags walks the '-'-separated subtags of a tag without allocating. An
// empty subtag (from "--" or a trailing '-') is returned as "", which no
// grammar rule accepts.
type subtags struct {
	s   string
	pos int // start of the next subtag; past len(s) when exhausted
}

func (t *subtags) next() (tag string, start int, ok bool) {
	if t.pos > len(t.s) {
		return "", 0, false
	}
	start = t.pos
	end := strings.IndexByte(t.s[start:], '-')
	if end < 0 {
		end = len(t.s)
	} else {
		end += start
	}
	t.pos = end + 1
	return t.s[start:end], start, true
}

// checkLangtag checks the langtag production after its first subtag:
//
//	language [-extlang] [-script] [-region] *(-variant) *(-extension) [-privateuse]
func checkLangtag(lang string, sub *subtags) string {
	if (len(lang) != 2 && len(lang) != 3) || !allOf(lang, isLower) {
		return "primary language must be 2 or 3 lower-case letters"
	}
	tag, start, ok := sub.next()
	for n := 0; ok && n < 3 && len(tag) == 3 && allOf(tag, isAlpha); n++ {
		tag, start, ok = sub.next() // extlang
	}
	if ok && len(tag) == 4 && allOf(tag, isAlpha) {
		tag, start, ok = sub.next() // script
	}
	if ok && (len(tag) == 2 && allOf(tag, isAlpha) || len(tag) == 3 && allOf(tag, isDigit)) {
		tag, start, ok = sub.next() // region
	}
	variantsStart := start
	for ok && isVariant(tag) {
		// RFC 5646 4.1: a variant may appear once. The earlier variants are
		// s[variantsStart:start], so compare against those in place.
		if hasSubtagFold(sub.s[variantsStart:start], tag) {
			return "repeated variant subtag"
		}
		tag, start, ok = sub.next()
	}
	var singletons uint64
	for ok && len(tag) == 1 && isAlnum(tag[0]) && tag != "x" && tag != "X" {
		bit := uint64(1) << alnumIndex(tag[0])
		if singletons&bit != 0 {
			return "repeated extension singleton"
		}
		singletons |= bit
		n := 0
		for tag, start, ok = sub.next(); ok && len(tag) >= 2 && len(tag) <= 8 && allOf(tag, isAlnum); tag, start, ok = sub.next() {
			n++
		}
		if n == 0 {
			return "extension singleton without subtags"
		}
	}
	if !ok {
		return ""
	}
	if tag == "x" || tag == "X" {
		return checkPrivateUse(sub)
	}
	return "malformed subtag"
}

// checkPrivateUse checks the subtags after an "x": one or more of 1-8
// letters or digits.
func checkPrivateUse(sub *subtags) string {
	n := 0
	for tag, _, ok := sub.next(); ok; tag, _, ok = sub.next() {
		if len(tag) < 1 || len(tag) > 8 || !allOf(tag, isAlnum) {
			return "private-use subtags must be 1 to 8 letters or digits"
		}
		n++
	}
	if n == 0 {
		return "private-use singleton without subtags"
	}
	return ""
}

// isVariant matches 5*8alphanum / (DIGIT 3alphanum).
func isVariant(tag string) bool {
	switch {
	case len(tag) >= 5 && len(tag) <= 8:
		return allOf(tag, isAlnum)
	case len(tag) == 4:
		return isDigit(tag[0]) && allOf(tag, isAlnum)
	}
	return false
}

// hasSubtagFold reports whether the '-'-separated list (possibly with a
// trailing '-') contains tag, ignoring ASCII case.
func hasSubtagFold(list, tag string) bool {
	for list != "" {
		var sub string
		sub, list, _ = strings.Cut(list, "-")
		if strings.EqualFold(sub, tag) {
			return true
		}
	}
	return false
}

// alnumIndex maps 0-9 to 0-9 and letters case-insensitively to 10-35.
func alnumIndex(c byte) uint {
	switch {
	case isDigit(c):
		return uint(c - '0')
	case isUpper(c):
		return uint(c-'A') + 10
	default:
		return uint(c-'a') + 10
	}
}

func allOf(s string, class func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !class(s[i]) {
			return false
		}
	}
	return true
}
