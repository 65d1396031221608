package synth

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/conflux-atproto/conflux/repo/syntax"
)

// FacetKind is the feature a facet marks.
type FacetKind uint8

// The facet features of app.bsky.richtext.facet.
const (
	FacetMention FacetKind = iota + 1
	FacetLink
	FacetTag
)

// NSIDs of the facet object and its features.
const (
	facetNSID   = "app.bsky.richtext.facet"
	mentionType = facetNSID + "#mention"
	linkType    = facetNSID + "#link"
	tagType     = facetNSID + "#tag"
)

// maxTagRunes and maxTagBytes are the facet tag limits (maxGraphemes 64,
// maxLength 640). Runes are counted instead of graphemes: a tag within 64
// runes is within 64 graphemes, so the check errs on the safe side.
const (
	maxTagRunes = 64
	maxTagBytes = 640
)

// Facet is one detected span of post text.
type Facet struct {
	Kind FacetKind
	// ByteStart and ByteEnd are UTF-8 byte offsets into the text, start
	// inclusive and end exclusive. The span covers the whole visible token:
	// the '@' of a mention and the '#' of a tag included.
	ByteStart, ByteEnd int
	// Value is the handle of a mention (lower-cased, without '@'), the URI
	// of a link (https:// added to a bare domain, the scheme lower-cased and
	// non-ASCII characters percent-encoded) or the tag without its '#'.
	Value string
}

// DetectFacets finds the mentions (@handle), links (http(s) URLs and bare
// domains with a common TLD) and hashtags (#tag or ＃tag) in text, in order
// and without overlaps. It follows the rules of the Bluesky app closely
// enough that its facets look like the real network's:
//   - a mention or link starts the text or follows white space or '(';
//     a tag starts the text or follows white space;
//   - trailing punctuation is not part of a link or tag, and a link's
//     closing ')' is kept only when it also has an opening one;
//   - a tag is not only digits and is at most 64 characters;
//   - a word is tried as a link at most maxLinkTries times (at its start
//     and after '('), which keeps detection linear in the text's length.
//
// Invalid UTF-8 is tolerated (it never starts or ends a facet). Mentions
// carry the handle; the caller resolves it to a DID (see FacetsValue).
func DetectFacets(text string) []Facet {
	var out []Facet
	d := detector{text: text}
	prev := ' ' // the start of the text counts as white space
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if f, ok := d.at(i, r, prev); ok {
			out = append(out, f)
			i = f.ByteEnd
			prev, _ = utf8.DecodeLastRuneInString(text[:i])
			continue
		}
		prev = r
		i += size
	}
	return out
}

// maxLinkTries bounds the link attempts in one run of non-space characters.
// A link may start after any '(' (Bluesky's rule), and each attempt reads
// to the end of the run, so text like "(a(a(a(a..." would otherwise cost
// time quadratic in its length. Real text has one or two per word.
const maxLinkTries = 8

// detector scans one text. It remembers where the current run of non-space
// characters ends, and how many link attempts the run has had.
type detector struct {
	text   string
	runAt  int // the current run is [runAt, runEnd); every start
	runEnd int // inside it shares that end
	tries  int
}

// spaceAfter returns the end of the run of non-space characters at i.
func (d *detector) spaceAfter(i int) int {
	if i >= d.runAt && i < d.runEnd {
		return d.runEnd
	}
	j := i
	for j < len(d.text) {
		r, size := utf8.DecodeRuneInString(d.text[j:])
		if unicode.IsSpace(r) {
			break
		}
		j += size
	}
	d.runAt, d.runEnd, d.tries = i, j, 0
	return j
}

// at tries to start a facet at byte i, where rune r follows rune prev.
func (d *detector) at(i int, r, prev rune) (Facet, bool) {
	space := unicode.IsSpace(prev)
	switch {
	case r == '@' && (space || prev == '('):
		return detectMention(d.text, i)
	case (r == '#' || r == '＃') && space:
		return detectTag(d.text, i, utf8.RuneLen(r))
	case (space || prev == '(') && r < utf8.RuneSelf && unicode.IsLetter(r):
		// Both "http(s)://" and a bare domain start with an ASCII letter.
		end := d.spaceAfter(i)
		if d.tries >= maxLinkTries {
			return Facet{}, false
		}
		d.tries++
		return detectLink(d.text[i:end], i)
	}
	return Facet{}, false
}

func isHandleByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-'
}

// detectMention reads "@handle" at text[i]. A handle glued to a further word
// character ("@bob.test_x", "@bob.testé") is not a mention at all.
func detectMention(text string, i int) (Facet, bool) {
	j := i + 1
	for j < len(text) && isHandleByte(text[j]) {
		j++
	}
	if j < len(text) {
		if r, _ := utf8.DecodeRuneInString(text[j:]); r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return Facet{}, false
		}
	}
	end := j
	for end > i+1 && (text[end-1] == '.' || text[end-1] == '-') {
		end--
	}
	h, err := syntax.ParseHandle(text[i+1 : end])
	if err != nil {
		return Facet{}, false
	}
	return Facet{Kind: FacetMention, ByteStart: i, ByteEnd: end, Value: strings.ToLower(string(h))}, true
}

// tagBreak reports the runes that end a tag: white space and the invisible
// joiners and hyphens the Bluesky app also stops at.
func tagBreak(r rune) bool {
	switch r {
	case '\u00AD', '\u2060', '\u200A', '\u200B', '\u200C', '\u200D', '\u20E2':
		return true
	}
	return unicode.IsSpace(r)
}

// detectTag reads "#tag" at text[i]; hashLen is the byte length of the '#'.
func detectTag(text string, i, hashLen int) (Facet, bool) {
	start := i + hashLen
	if r, _ := utf8.DecodeRuneInString(text[start:]); r == '\uFE0F' {
		return Facet{}, false // a keycap emoji such as #️⃣, not a tag
	}
	j := start
	for j < len(text) {
		r, size := utf8.DecodeRuneInString(text[j:])
		if tagBreak(r) {
			break
		}
		j += size
	}
	for j > start {
		r, size := utf8.DecodeLastRuneInString(text[start:j])
		if !unicode.IsPunct(r) && r != utf8.RuneError {
			break
		}
		j -= size
	}
	tag := text[start:j]
	if tag == "" || len(tag) > maxTagBytes || utf8.RuneCountInString(tag) > maxTagRunes || !utf8.ValidString(tag) {
		return Facet{}, false
	}
	if strings.IndexFunc(tag, func(r rune) bool { return !unicode.IsDigit(r) }) < 0 {
		return Facet{}, false // "#1" is a number, not a tag
	}
	return Facet{Kind: FacetTag, ByteStart: i, ByteEnd: j, Value: tag}, true
}

// linkTLDs are the top-level domains that make a bare "name.tld" a link.
// Without a scheme most dotted words are not links ("e.g.", "v1.2"), so only
// common TLDs count, as in the Bluesky app.
var linkTLDs = map[string]bool{
	"com": true, "org": true, "net": true, "io": true, "dev": true, "app": true,
	"social": true, "co": true, "edu": true, "gov": true, "info": true, "me": true,
	"xyz": true, "blog": true, "news": true, "de": true, "fr": true, "es": true,
	"jp": true, "br": true, "kr": true, "uk": true, "it": true, "pt": true,
}

// detectLink reads a URL from run, the non-space characters starting at byte
// i of the text: "http://" or "https://" and more, or a bare domain with a
// known TLD and an optional path.
func detectLink(run string, i int) (Facet, bool) {
	tok := trimLink(run)
	if tok == "" || !utf8.ValidString(tok) {
		return Facet{}, false
	}
	var uri string
	switch {
	case hasPrefixFold(tok, "http://") || hasPrefixFold(tok, "https://"):
		k := strings.Index(tok, "://")
		uri = strings.ToLower(tok[:k]) + tok[k:] // the URI syntax wants a lower-case scheme
	case bareDomain(tok):
		uri = "https://" + tok
	default:
		return Facet{}, false
	}
	uri = escapeNonASCII(uri)
	if _, err := syntax.ParseURI(uri); err != nil {
		return Facet{}, false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return Facet{}, false
	}
	return Facet{Kind: FacetLink, ByteStart: i, ByteEnd: i + len(tok), Value: uri}, true
}

// escapeNonASCII percent-encodes the UTF-8 bytes of non-ASCII characters,
// as a browser does with a pasted IRI: the lexicon's uri format is ASCII.
func escapeNonASCII(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// trimLink drops trailing punctuation that ends a sentence rather than the
// URL, and a closing ')' when the URL has no '(' (a link in parentheses).
func trimLink(s string) string {
	open := strings.Contains(s, "(") // trimming never removes a '('
	for s != "" {
		c := s[len(s)-1]
		switch {
		case strings.IndexByte(".,;:!?\"'", c) >= 0:
			s = s[:len(s)-1]
		case c == ')' && !open:
			s = s[:len(s)-1]
		default:
			return s
		}
	}
	return s
}

// bareDomain reports whether s starts with "name.tld" (letters, digits,
// '-' and '.'; starting with a letter) whose TLD is in linkTLDs, followed by
// nothing or by a path, query or fragment.
func bareDomain(s string) bool {
	end := strings.IndexAny(s, "/?#")
	if end < 0 {
		end = len(s)
	}
	host := s[:end]
	if host == "" || !unicode.IsLetter(rune(host[0])) {
		return false
	}
	for k := 0; k < len(host); k++ {
		if !isHandleByte(host[k]) {
			return false
		}
	}
	dot := strings.LastIndexByte(host, '.')
	if dot <= 0 || strings.Contains(host, "..") {
		return false
	}
	return linkTLDs[strings.ToLower(host[dot+1:])]
}

// Record returns the facet as an app.bsky.richtext.facet object. For a
// mention, did is the mentioned account's DID; it is ignored otherwise.
func (f Facet) Record(did string) map[string]any {
	var feature map[string]any
	switch f.Kind {
	case FacetMention:
		feature = map[string]any{"$type": mentionType, "did": did}
	case FacetLink:
		feature = map[string]any{"$type": linkType, "uri": f.Value}
	default:
		feature = map[string]any{"$type": tagType, "tag": f.Value}
	}
	return map[string]any{
		"$type":    facetNSID,
		"index":    map[string]any{"byteStart": int64(f.ByteStart), "byteEnd": int64(f.ByteEnd)},
		"features": []any{feature},
	}
}

// FacetsValue turns facets into the "facets" array of a post. resolve maps a
// mentioned handle to its DID; a mention it cannot resolve (ok false) is
// left out, as the Bluesky app does, rather than pointing at nobody.
func FacetsValue(facets []Facet, resolve func(handle string) (did string, ok bool)) []any {
	out := make([]any, 0, len(facets))
	for _, f := range facets {
		var did string
		if f.Kind == FacetMention {
			d, ok := resolve(f.Value)
			if !ok {
				continue
			}
			did = d
		}
		out = append(out, f.Record(did))
	}
	return out
}
