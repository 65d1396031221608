package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// FuzzParseDocument checks that any bytes either fail with one of the
// documented errors or yield an Identity whose facts are consistent, and
// that re-encoding the decoded document gives the same facts.
func FuzzParseDocument(f *testing.F) {
	for _, c := range vectorCases {
		f.Add(c.did, readVector(f, c.file))
	}
	const d = testDID
	for _, s := range []string{
		`{"id":"` + d + `","ID":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}`,
		`{"id":"` + d + `","id":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}`,
		`{"Id":"` + d + `","AlsoKnownAs":["at://X.com"]}`,
		`{"id":"` + d + `","alsoKnownAs":["at://` + strings.Repeat("a.", 130) + `com"]}`,
		`{"id":"` + d + `","alsoKnownAs":["at://\u00e9.com","at://b.com"]}`,
		`{"id":"` + d + `","verificationMethod":[` + vm("#atproto", "EcdsaSecp256k1VerificationKey2019", d, "z"+strings.Repeat("1", 200)) + `]}`,
		`{"id":"` + d + `","verificationMethod":[` + vm("#atproto", "EcdsaSecp256r1VerificationKey2019", d, p256Key) + `]}`,
		`{"id":"` + d + `","verificationMethod":[` + vm("#atproto", "Multikey", d, p256Key) + `]}`,
		`{"id":"` + d + `","service":[` + svc("#atproto_pds", pdsType, `"https://[::1]:8080"`) + `]}`,
		`{"id":"` + d + `","service":[` + svc("#atproto_pds", pdsType, `"https://a.com:99999"`) + `]}`,
		`{"id":"` + d + `","service":[` + svc("#atproto_pds", pdsType, `"HTTPS://A.COM/"`) + `]}`,
		`{"id":"` + d + `","service":[` + svc("#atproto_pds", pdsType, `"https://a.com%2f@b.com"`) + `]}`,
		`{"id":"` + d + `","service":[` + svc("#atproto_pds", pdsType, `["https://a.com"]`) + `]}`,
		`{"id":"` + d + `","x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
		`{"id":"` + d + `"}` + "\x00",
		"{\"id\":\"" + d + "\",\"alsoKnownAs\":[\"at://a.com\xff\"]}",
		`{"id":"` + d + `","verificationMethod":null,"service":null,"alsoKnownAs":null}`,
	} {
		f.Add(d, []byte(s))
	}
	f.Add("did:web:localhost%3A1234", []byte(`{"id":"did:web:localhost%3A1234"}`))
	f.Add("did:key:"+k256Key, []byte(`{"id":"did:key:`+k256Key+`"}`))

	f.Fuzz(func(t *testing.T, did string, raw []byte) {
		ident, err := ParseDocument(did, raw)
		if err != nil {
			if ident != nil {
				t.Fatal("Identity returned with an error")
			}
			if !errors.Is(err, ErrInvalidDID) && !errors.Is(err, ErrInvalidDocument) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if string(ident.DID) != did || !bytes.Equal(ident.Raw, raw) {
			t.Fatalf("DID %q / Raw do not match the input", ident.DID)
		}
		checkFacts(t, ident)

		// Round trip: the decoded document, re-encoded, yields the same
		// facts.
		var doc document
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("ParseDocument accepted what json rejects: %v", err)
		}
		raw2, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw2) > MaxDocumentSize {
			return // re-encoding can grow the text (escapes)
		}
		again, err := ParseDocument(did, raw2)
		if err != nil {
			t.Fatalf("re-encoded document rejected: %v\n%s", err, raw2)
		}
		if again.Handle != ident.Handle {
			t.Errorf("handle %q became %q", ident.Handle, again.Handle)
		}
		p1, e1 := ident.PDSEndpoint()
		p2, e2 := again.PDSEndpoint()
		if p1 != p2 || (e1 == nil) != (e2 == nil) {
			t.Errorf("PDS %q (%v) became %q (%v)", p1, e1, p2, e2)
		}
		k1, e1 := ident.PublicKey()
		k2, e2 := again.PublicKey()
		if (k1 == nil) != (k2 == nil) || (k1 != nil && !k1.Equal(k2)) || (e1 == nil) != (e2 == nil) {
			t.Errorf("key %v (%v) became %v (%v)", k1, e1, k2, e2)
		}
	})
}

// checkFacts checks that each fact of a parsed identity is either absent
// with its sentinel or valid.
func checkFacts(t *testing.T, ident *Identity) {
	t.Helper()
	if h := ident.Handle; h != "" {
		if _, err := syntax.ParseHandle(string(h)); err != nil || h != h.Normalize() {
			t.Fatalf("declared handle %q is invalid or not normalized (%v)", h, err)
		}
	}
	if k, err := ident.PublicKey(); err != nil {
		if k != nil || !errors.Is(err, ErrNoSigningKey) {
			t.Fatalf("PublicKey() = %v, %v", k, err)
		}
	} else if k2, err := crypto.ParsePublicMultibase(k.Multibase()); err != nil || !k2.Equal(k) {
		t.Fatalf("key %s does not round-trip: %v", k.Multibase(), err)
	}
	if pds, err := ident.PDSEndpoint(); err != nil {
		if pds != "" || !errors.Is(err, ErrNoPDS) {
			t.Fatalf("PDSEndpoint() = %q, %v", pds, err)
		}
	} else {
		q, _ := json.Marshal(pds)
		if again, err := parseEndpoint(q); err != nil || again != pds {
			t.Fatalf("endpoint %q is not normalized: %q, %v", pds, again, err)
		}
	}
}

// FuzzWebHost checks that a did:web DID accepted by the resolver always
// names exactly one host and nothing else, so a DID cannot steer the
// request to another host, path or credentials.
func FuzzWebHost(f *testing.F) {
	for _, s := range []string{
		"did:web:example.com", "did:web:localhost%3A2583", "did:web:localhost%3a80",
		"did:web:example.com%3A443", "did:web:a.com:path", "did:web:a.com%2Fx",
		"did:web:a.com%40b.com", "did:web:localhost%3A1%3A2", "did:web:localhost%3A%3A",
		"did:web:dev.test", "did:web:127.0.0.1", "did:web:xn--bcher-kva.example",
		"did:web:discover.bsky.social",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, dev bool) {
		d, err := syntax.ParseDID(s)
		if err != nil || d.Method() != "web" {
			return
		}
		r, err := NewResolver(Config{DevLocalhost: dev})
		if err != nil {
			t.Fatal(err)
		}
		host, err := r.webHost(d)
		if err != nil {
			if !errors.Is(err, ErrInvalidDID) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if host == "" || strings.ContainsAny(host, "/?#@\\% ") {
			t.Fatalf("%q gave host %q", s, host)
		}
		if strings.HasPrefix(host, "localhost") && !dev {
			t.Fatalf("%q: localhost outside development", s)
		}
		u, err := url.Parse("https://" + host + "/.well-known/did.json")
		if err != nil || u.Host != host || u.Path != "/.well-known/did.json" || u.User != nil {
			t.Fatalf("%q: host %q does not stand alone in a URL (%v)", s, host, err)
		}
	})
}
