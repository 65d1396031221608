package syntax

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets check three things for arbitrary input: the parser never
// panics, a value it accepts re-parses from its String() to the same value,
// and the hand-written scanner agrees with an independent oracle built from
// the spec's regular expressions (differential fuzzing).

// Oracles, taken from the spec texts. They live in tests only; the
// production scanners avoid regexp for speed.
var (
	reDID      = regexp.MustCompile(`^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$`)
	reHandle   = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
	reNSID     = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+\.[a-zA-Z][a-zA-Z0-9]{0,62}$`)
	reRKey     = regexp.MustCompile(`^[a-zA-Z0-9._:~-]{1,512}$`)
	reTID      = regexp.MustCompile(`^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$`)
	reDatetime = regexp.MustCompile(`^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?(Z|[+-][0-2][0-9]:[0-5][0-9])$`)
	reURI      = regexp.MustCompile(`^[a-z][a-z0-9+.-]{0,80}:[!-~]+$`)
	reCID      = regexp.MustCompile(`^[a-zA-Z0-9+=]{8,256}$`)
	reLangtag  = regexp.MustCompile(`^(` +
		`[a-z]{2,3}(-[A-Za-z]{3}){0,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?` +
		`(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*` +
		`(-[0-9A-WY-Za-wy-z](-[A-Za-z0-9]{2,8})+)*` +
		`(-[xX](-[A-Za-z0-9]{1,8})+)?` +
		`|[xX](-[A-Za-z0-9]{1,8})+)$`)
	reVariant  = regexp.MustCompile(`^([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3})$`)
	reFragment = regexp.MustCompile(`^/[a-zA-Z0-9._~:@!$&')(*+,;=%[\]/-]*$`)
)

// oracleATURI splits the input the naive way and judges each part with the
// other oracles.
func oracleATURI(s string) bool {
	if len(s) > MaxATURILen || !strings.HasPrefix(s, "at://") {
		return false
	}
	base, frag, hasFrag := strings.Cut(s[len("at://"):], "#")
	if hasFrag {
		dec, err := url.PathUnescape(frag)
		if !reFragment.MatchString(frag) || err != nil || !utf8.ValidString(dec) {
			return false
		}
	}
	parts := strings.Split(base, "/")
	if len(parts) > 3 || !(oracleDID(parts[0]) || oracleHandle(parts[0])) {
		return false
	}
	if len(parts) > 1 && !oracleNSID(parts[1]) {
		return false
	}
	return len(parts) < 3 || oracleRKey(parts[2])
}

func oracleDID(s string) bool    { return len(s) <= MaxDIDLen && reDID.MatchString(s) }
func oracleHandle(s string) bool { return len(s) <= MaxHandleLen && reHandle.MatchString(s) }
func oracleNSID(s string) bool   { return len(s) <= MaxNSIDLen && reNSID.MatchString(s) }
func oracleRKey(s string) bool   { return s != "." && s != ".." && reRKey.MatchString(s) }

func oracleDatetime(s string) bool {
	if len(s) > MaxDatetimeLen || !reDatetime.MatchString(s) || strings.HasSuffix(s, "-00:00") {
		return false
	}
	// time.Parse accepts offsets up to ±24:59; RFC 3339 limits the hour
	// to 23.
	if z := s[len(s)-6:]; (z[0] == '+' || z[0] == '-') && z[1:3] > "23" {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && t.UTC().Year() >= 0
}

// oracleLanguage checks well-formedness by regexp, then RFC 5646 4.1
// validity by splitting: variant subtags (before any singleton) and
// singletons (before private use) must not repeat, ignoring case.
func oracleLanguage(s string) bool {
	if s == "" || len(s) > MaxLanguageLen {
		return false
	}
	for _, tag := range irregularTags {
		if s == tag || (strings.EqualFold(s, tag) && s[0] == tag[0]) {
			return true
		}
	}
	if !reLangtag.MatchString(s) {
		return false
	}
	if first, _, _ := strings.Cut(s, "-"); first == "x" || first == "X" {
		return true // all private use: no uniqueness rules
	}
	seen := map[string]bool{}
	inExtensions := false
	for _, sub := range strings.Split(s, "-")[1:] {
		sub = strings.ToLower(sub)
		if len(sub) == 1 {
			if sub == "x" {
				break
			}
			inExtensions = true
		} else if inExtensions || !reVariant.MatchString(sub) {
			continue
		}
		if seen[sub] {
			return false
		}
		seen[sub] = true
	}
	return true
}

// addVectorSeeds seeds f with every line of the named vector files.
func addVectorSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		for _, v := range readVectors(f, name) {
			f.Add(v.value)
		}
	}
}

// adversarial are shapes that stress boundaries shared by several parsers.
var adversarial = []string{
	"", " ", "\x00", "\xff", "%", "#", "/", ":", ".", "..", "-", "é", "did:", "did::",
	"at://", "at:///", "at://#", "at://a.b#/%", "at://a.b#/%e2%82", "at://a.b/c.d.e/",
	strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 127) + "com",
	"did:plc:" + strings.Repeat("a", MaxDIDLen), "at://did:plc:" + strings.Repeat("x", 9000),
	"9999-12-31T23:59:59.99999999999999999999+23:59", "0000-01-01T00:00:00-23:59",
	"0000-01-01T00:00:00+23:59", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
	"zzzzzzzzzzzzz", "jzzzzzzzzzzzz", "2222222222222", "22222222222222",
	"en-a-aa-a-bb", "en-x-a-a-a", "x-a", "i-default-x", "en-GB-oed-x-foo",
}

func addAdversarial(f *testing.F) {
	for _, s := range adversarial {
		f.Add(s)
	}
}

func FuzzParseDID(f *testing.F) {
	addVectorSeeds(f, "did_syntax_valid.txt", "did_syntax_invalid.txt", "atidentifier_syntax_invalid.txt")
	addAdversarial(f)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDID(s)
		if (err == nil) != oracleDID(s) {
			t.Fatalf("ParseDID(%q) err=%v, oracle disagrees", s, err)
		}
		if err != nil {
			return
		}
		if again, err := ParseDID(d.String()); err != nil || again != d {
			t.Fatalf("%q does not re-parse: %v", d, err)
		}
		if "did:"+d.Method()+":"+d.Identifier() != s {
			t.Fatalf("%q: method %q identifier %q do not rebuild it", s, d.Method(), d.Identifier())
		}
	})
}

func FuzzParseHandle(f *testing.F) {
	addVectorSeeds(f, "handle_syntax_valid.txt", "handle_syntax_invalid.txt",
		"atidentifier_syntax_valid.txt", "atidentifier_syntax_invalid.txt")
	addAdversarial(f)
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHandle(s)
		if (err == nil) != oracleHandle(s) {
			t.Fatalf("ParseHandle(%q) err=%v, oracle disagrees", s, err)
		}
		_, aerr := ParseAtIdentifier(s)
		if (aerr == nil) != (oracleHandle(s) || oracleDID(s)) {
			t.Fatalf("ParseAtIdentifier(%q) err=%v, oracle disagrees", s, aerr)
		}
		if err != nil {
			return
		}
		if again, err := ParseHandle(h.String()); err != nil || again != h {
			t.Fatalf("%q does not re-parse: %v", h, err)
		}
		if n, err := ParseHandle(string(h.Normalize())); err != nil || !strings.EqualFold(string(n), s) {
			t.Fatalf("normalized %q invalid: %v", n, err)
		}
		_ = h.AllowedTLD()
	})
}

func FuzzParseATURI(f *testing.F) {
	addVectorSeeds(f, "aturi_syntax_valid.txt", "aturi_syntax_invalid.txt")
	addAdversarial(f)
	f.Add("at://did:plc:asdf123/com.atproto.feed.post/record#/frag/%C3%BC")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseATURI(s)
		if (err == nil) != oracleATURI(s) {
			t.Fatalf("ParseATURI(%q) err=%v, oracle disagrees", s, err)
		}
		if err != nil {
			return
		}
		if again, err := ParseATURI(u.String()); err != nil || again != u {
			t.Fatalf("%q does not re-parse: %v", u, err)
		}
		// Every part must itself be valid, and the parts must rebuild the
		// input exactly.
		rebuilt := "at://" + string(u.Authority())
		if _, err := ParseAtIdentifier(string(u.Authority())); err != nil {
			t.Fatalf("%q: authority invalid: %v", s, err)
		}
		if c := u.Collection(); c != "" {
			if _, err := ParseNSID(string(c)); err != nil {
				t.Fatalf("%q: collection invalid: %v", s, err)
			}
			rebuilt += "/" + string(c)
		}
		if r := u.RecordKey(); r != "" {
			if u.Collection() == "" || !oracleRKey(string(r)) {
				t.Fatalf("%q: bad record key %q", s, r)
			}
			if u.Path() != string(u.Collection())+"/"+string(r) || !ValidRepoPath(u.Path()) {
				t.Fatalf("%q: path %q", s, u.Path())
			}
			rebuilt += "/" + string(r)
		}
		if fr := u.Fragment(); fr != "" {
			rebuilt += "#" + fr
		}
		if rebuilt != s || len(s) > MaxATURILen || strings.ContainsAny(s, " ?") {
			t.Fatalf("%q accepted but rebuilds as %q", s, rebuilt)
		}
	})
}

func FuzzParseTID(f *testing.F) {
	addVectorSeeds(f, "tid_syntax_valid.txt", "tid_syntax_invalid.txt")
	addAdversarial(f)
	f.Fuzz(func(t *testing.T, s string) {
		tid, err := ParseTID(s)
		if (err == nil) != reTID.MatchString(s) {
			t.Fatalf("ParseTID(%q) err=%v, oracle disagrees", s, err)
		}
		if err != nil {
			return
		}
		if TIDFromInteger(tid.Integer()) != tid {
			t.Fatalf("%q does not round-trip through Integer %d", s, tid.Integer())
		}
		if again := NewTID(tid.UnixMicro(), tid.ClockID()); tid.Integer()>>63 == 0 && again != tid {
			t.Fatalf("%q rebuilds from parts as %q", s, again)
		}
	})
}

func FuzzParseDatetime(f *testing.F) {
	addVectorSeeds(f, "datetime_syntax_valid.txt", "datetime_syntax_invalid.txt", "datetime_parse_invalid.txt")
	addAdversarial(f)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDatetime(s)
		if (err == nil) != oracleDatetime(s) {
			t.Fatalf("ParseDatetime(%q) err=%v, oracle disagrees", s, err)
		}
		if err == nil {
			if again, err := ParseDatetime(d.String()); err != nil || again != d {
				t.Fatalf("%q does not re-parse: %v", d, err)
			}
			ref, _ := time.Parse(time.RFC3339Nano, s)
			if !d.Time().Equal(ref) {
				t.Fatalf("%q: Time %v, time.Parse %v", s, d.Time(), ref)
			}
		}
		// The lenient parser must always produce a strict-valid datetime.
		if l, err := ParseDatetimeLenient(s); err == nil {
			if _, err := ParseDatetime(string(l)); err != nil {
				t.Fatalf("lenient(%q) = %q is not strict-valid: %v", s, l, err)
			}
		}
	})
}

func FuzzParseNSID(f *testing.F) {
	addVectorSeeds(f, "nsid_syntax_valid.txt", "nsid_syntax_invalid.txt",
		"recordkey_syntax_valid.txt", "recordkey_syntax_invalid.txt")
	addAdversarial(f)
	f.Add("app.bsky.feed.post/3l3qo2vxaaw22")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNSID(s)
		if (err == nil) != oracleNSID(s) {
			t.Fatalf("ParseNSID(%q) err=%v, oracle disagrees", s, err)
		}
		if err == nil {
			if again, err := ParseNSID(n.String()); err != nil || again != n {
				t.Fatalf("%q does not re-parse: %v", n, err)
			}
			if _, err := ParseNSID(string(n.Normalize())); err != nil {
				t.Fatalf("normalized %q invalid: %v", n.Normalize(), err)
			}
			// The authority in DNS order is a hostname whenever it fits the
			// hostname length limit (the vectors allow longer authorities).
			if a := n.Authority(); len(a) <= MaxHandleLen {
				if _, err := ParseHandle(a); err != nil {
					t.Fatalf("%q: authority %q is not a hostname: %v", s, a, err)
				}
			}
		}
		if _, err := ParseRecordKey(s); (err == nil) != oracleRKey(s) {
			t.Fatalf("ParseRecordKey(%q) err=%v, oracle disagrees", s, err)
		}
		coll, rkey, err := ParseRepoPath(s)
		i := strings.IndexByte(s, '/')
		want := i >= 0 && oracleNSID(s[:i]) && oracleRKey(s[i+1:])
		if (err == nil) != want || ValidRepoPath(s) != want {
			t.Fatalf("ParseRepoPath(%q) err=%v, oracle %v", s, err, want)
		}
		if err == nil && RepoPath(coll, rkey) != s {
			t.Fatalf("%q splits into %q + %q", s, coll, rkey)
		}
	})
}

func FuzzParseLanguage(f *testing.F) {
	addVectorSeeds(f, "language_syntax_valid.txt", "language_syntax_invalid.txt", "language_parse_invalid.txt",
		"uri_syntax_valid.txt", "uri_syntax_invalid.txt", "cid_syntax_valid.txt", "cid_syntax_invalid.txt")
	addAdversarial(f)
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLanguage(s)
		if (err == nil) != oracleLanguage(s) {
			t.Fatalf("ParseLanguage(%q) err=%v, oracle disagrees", s, err)
		}
		if err == nil {
			if again, err := ParseLanguage(l.String()); err != nil || again != l {
				t.Fatalf("%q does not re-parse: %v", l, err)
			}
		}
		if _, err := ParseURI(s); (err == nil) != (len(s) <= MaxURILen && reURI.MatchString(s)) {
			t.Fatalf("ParseURI(%q) err=%v, oracle disagrees", s, err)
		}
		cidWant := reCID.MatchString(s) && !(len(s) == 46 && strings.HasPrefix(s, "Qm"))
		if ValidCIDString(s) != cidWant {
			t.Fatalf("ValidCIDString(%q) = %v, oracle %v", s, !cidWant, cidWant)
		}
	})
}
