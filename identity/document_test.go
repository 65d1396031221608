package identity

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/crypto"
)

// vectorDir holds indigo's identity fixtures, read in place.
const vectorDir = "../../shared/testdata/indigo/identity"

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatalf("read vector: %v", err)
	}
	return b
}

// vectorCase is what each indigo fixture must yield. An empty handle, pds
// or key means the document has none.
type vectorCase struct {
	file   string
	did    string
	handle string
	pds    string
	key    string // Multikey form
	alg    string
}

// The legacy fixture holds the same K-256 key as the current one, as an
// uncompressed point under type EcdsaSecp256k1VerificationKey2019, with a
// relative "#atproto" id.
var vectorCases = []vectorCase{
	{
		file: "did_plc_doc.json", did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", handle: "atproto.com",
		pds: "https://bsky.social", key: "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF", alg: crypto.AlgK256,
	},
	{
		file: "did_plc_doc_legacy.json", did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", handle: "atproto.com",
		pds: "https://bsky.social", key: "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF", alg: crypto.AlgK256,
	},
	{file: "did_web_doc.json", did: "did:web:discover.bsky.social"},
}

// checkVector asserts every fact of c on ident.
func checkVector(t *testing.T, c vectorCase, ident *Identity, raw []byte) {
	t.Helper()
	if string(ident.DID) != c.did {
		t.Errorf("DID = %q, want %q", ident.DID, c.did)
	}
	if string(ident.Handle) != c.handle {
		t.Errorf("Handle = %q, want %q", ident.Handle, c.handle)
	}
	if h, err := ident.DeclaredHandle(); c.handle == "" {
		if !errors.Is(err, ErrNoHandle) {
			t.Errorf("DeclaredHandle() error = %v, want ErrNoHandle", err)
		}
	} else if err != nil || string(h) != c.handle {
		t.Errorf("DeclaredHandle() = %q, %v", h, err)
	}
	pds, err := ident.PDSEndpoint()
	if c.pds == "" {
		if !errors.Is(err, ErrNoPDS) {
			t.Errorf("PDSEndpoint() error = %v, want ErrNoPDS", err)
		}
	} else if err != nil || pds != c.pds {
		t.Errorf("PDSEndpoint() = %q, %v; want %q", pds, err, c.pds)
	}
	k, err := ident.PublicKey()
	if c.key == "" {
		if !errors.Is(err, ErrNoSigningKey) || k != nil {
			t.Errorf("PublicKey() = %v, %v; want ErrNoSigningKey", k, err)
		}
	} else if err != nil {
		t.Errorf("PublicKey(): %v", err)
	} else if k.Multibase() != c.key || k.Alg() != c.alg {
		t.Errorf("PublicKey() = %s (%s), want %s (%s)", k.Multibase(), k.Alg(), c.key, c.alg)
	}
	if raw != nil && !bytes.Equal(ident.Raw, raw) {
		t.Errorf("Raw differs from the served document")
	}
}

func TestParseDocumentVectors(t *testing.T) {
	t.Parallel()
	for _, c := range vectorCases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			raw := readVector(t, c.file)
			ident, err := ParseDocument(c.did, raw)
			if err != nil {
				t.Fatalf("ParseDocument: %v", err)
			}
			checkVector(t, c, ident, raw)
		})
	}
}

func TestParseDocumentWebVectorService(t *testing.T) {
	t.Parallel()
	ident, err := ParseDocument("did:web:discover.bsky.social", readVector(t, "did_web_doc.json"))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := ident.ServiceEndpoint("bsky_fg", "BskyFeedGenerator")
	if err != nil || ep != "https://discover.bsky.social" {
		t.Errorf("ServiceEndpoint(bsky_fg) = %q, %v", ep, err)
	}
	if _, err := ident.ServiceEndpoint("bsky_fg", "AtprotoPersonalDataServer"); !errors.Is(err, ErrNoService) {
		t.Errorf("wrong type: error = %v, want ErrNoService", err)
	}
}

func TestParseDocumentCopiesRaw(t *testing.T) {
	t.Parallel()
	raw := readVector(t, "did_plc_doc.json")
	ident, err := ParseDocument("did:plc:ewvi7nxzyoun6zhxrhs64oiz", raw)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] = 'X'
	if ident.Raw[0] != '{' {
		t.Error("Identity.Raw aliases the caller's buffer")
	}
}

func TestParseDocumentErrors(t *testing.T) {
	t.Parallel()
	const did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
	good := string(readVector(t, "did_plc_doc.json"))
	cases := []struct {
		name string
		did  string
		raw  string
		want error
	}{
		{"wrong id", did, strings.Replace(good, `"id": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"`, `"id": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"`, 1), ErrInvalidDocument},
		{"id differs in case", "did:plc:EWVI7nxzyoun6zhxrhs64oiz", good, ErrInvalidDocument},
		{"missing id", did, `{"alsoKnownAs":["at://atproto.com"]}`, ErrInvalidDocument},
		{"null document", did, `null`, ErrInvalidDocument},
		{"array document", did, `[]`, ErrInvalidDocument},
		{"empty", did, ``, ErrInvalidDocument},
		{"truncated", did, good[:len(good)/2], ErrInvalidDocument},
		{"trailing garbage", did, good + "x", ErrInvalidDocument},
		{"id not a string", did, `{"id": 7}`, ErrInvalidDocument},
		{"alsoKnownAs not a list", did, `{"id":"` + did + `","alsoKnownAs":"at://a.com"}`, ErrInvalidDocument},
		{"verificationMethod entry is a string", did, `{"id":"` + did + `","verificationMethod":["#atproto"]}`, ErrInvalidDocument},
		{"service not a list", did, `{"id":"` + did + `","service":{}}`, ErrInvalidDocument},
		{"too large", did, `{"id":"` + did + `","x":"` + strings.Repeat("a", MaxDocumentSize) + `"}`, ErrDocumentTooLarge},
		{"invalid requested DID", "not-a-did", good, ErrInvalidDID},
		{"empty requested DID", "", good, ErrInvalidDID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ident, err := ParseDocument(c.did, []byte(c.raw))
			if !errors.Is(err, c.want) || ident != nil {
				t.Fatalf("ParseDocument = %v, %v; want %v", ident, err, c.want)
			}
		})
	}
	if !errors.Is(ErrDocumentTooLarge, ErrInvalidDocument) {
		t.Error("ErrDocumentTooLarge must wrap ErrInvalidDocument")
	}
}

// doc builds a minimal document for did with the given members spliced in.
func doc(did string, members ...string) []byte {
	return []byte(`{"id":"` + did + `"` + strings.Join(append([]string{""}, members...), ",") + `}`)
}

const (
	testDID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
	k256Key = "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"
	// p256Key is the P-256 did:key example from the atproto cryptography
	// spec.
	p256Key = "zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo"
)

func vm(id, typ, controller, key string) string {
	return `{"id":"` + id + `","type":"` + typ + `","controller":"` + controller + `","publicKeyMultibase":"` + key + `"}`
}

func TestSigningKeyRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		methods []string
		want    string // expected Multikey; "" means ErrNoSigningKey
		wantErr error  // an extra error the failure must match
	}{
		{"relative id", []string{vm("#atproto", "Multikey", testDID, k256Key)}, k256Key, nil},
		{"full id", []string{vm(testDID+"#atproto", "Multikey", testDID, k256Key)}, k256Key, nil},
		{"p256 multikey", []string{vm("#atproto", "Multikey", testDID, p256Key)}, p256Key, nil},
		{"other fragments skipped", []string{vm("#atproto_label", "Multikey", testDID, p256Key), vm("#atproto", "Multikey", testDID, k256Key)}, k256Key, nil},
		{"suffix without #", []string{vm("xatproto", "Multikey", testDID, p256Key)}, "", nil},
		{"other DID's key ignored", []string{vm("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#atproto", "Multikey", testDID, p256Key)}, "", nil},
		{"controller mismatch", []string{vm("#atproto", "Multikey", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", k256Key)}, "", nil},
		{"first match decides", []string{vm("#atproto", "Multikey", testDID, "zBAD"), vm("#atproto", "Multikey", testDID, k256Key)}, "", nil},
		{"unsupported type", []string{vm("#atproto", "JsonWebKey2020", testDID, k256Key)}, "", crypto.ErrUnsupportedKey},
		{"legacy type, wrong curve", []string{vm("#atproto", "EcdsaSecp256r1VerificationKey2019", testDID, k256Key)}, "", nil},
		{"no key material", []string{`{"id":"#atproto","type":"Multikey","controller":"` + testDID + `"}`}, "", nil},
		{"no methods", nil, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ident, err := ParseDocument(testDID, doc(testDID, `"verificationMethod":[`+strings.Join(c.methods, ",")+`]`))
			if err != nil {
				t.Fatalf("a bad key must not fail the document: %v", err)
			}
			k, err := ident.PublicKey()
			if c.want == "" {
				if !errors.Is(err, ErrNoSigningKey) || k != nil {
					t.Fatalf("PublicKey() = %v, %v; want ErrNoSigningKey", k, err)
				}
				if c.wantErr != nil && !errors.Is(err, c.wantErr) {
					t.Fatalf("PublicKey() error %v does not match %v", err, c.wantErr)
				}
				return
			}
			if err != nil || k.Multibase() != c.want {
				t.Fatalf("PublicKey() = %v, %v; want %s", k, err, c.want)
			}
		})
	}
}

func svc(id, typ, endpoint string) string {
	return `{"id":"` + id + `","type":"` + typ + `","serviceEndpoint":` + endpoint + `}`
}

func TestPDSEndpointRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		services []string
		want     string // "" means ErrNoPDS
	}{
		{"relative id", []string{svc("#atproto_pds", pdsType, `"https://pds.example.com"`)}, "https://pds.example.com"},
		{"full id", []string{svc(testDID+"#atproto_pds", pdsType, `"https://pds.example.com"`)}, "https://pds.example.com"},
		{"port kept", []string{svc("#atproto_pds", pdsType, `"https://pds.example.com:8443"`)}, "https://pds.example.com:8443"},
		{"http for development", []string{svc("#atproto_pds", pdsType, `"http://localhost:2583"`)}, "http://localhost:2583"},
		{"trailing slash dropped", []string{svc("#atproto_pds", pdsType, `"https://pds.example.com/"`)}, "https://pds.example.com"},
		{"host lower-cased", []string{svc("#atproto_pds", pdsType, `"https://PDS.Example.com"`)}, "https://pds.example.com"},
		{"wrong type skipped", []string{svc("#atproto_pds", "BskyFeedGenerator", `"https://fg.example.com"`), svc("#atproto_pds", pdsType, `"https://pds.example.com"`)}, "https://pds.example.com"},
		{"other DID's service ignored", []string{svc("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#atproto_pds", pdsType, `"https://evil.example.com"`)}, ""},
		{"first match decides", []string{svc("#atproto_pds", pdsType, `"ftp://pds.example.com"`), svc("#atproto_pds", pdsType, `"https://pds.example.com"`)}, ""},
		{"path", []string{svc("#atproto_pds", pdsType, `"https://pds.example.com/xrpc"`)}, ""},
		{"query", []string{svc("#atproto_pds", pdsType, `"https://pds.example.com?x=1"`)}, ""},
		{"user info", []string{svc("#atproto_pds", pdsType, `"https://me@pds.example.com"`)}, ""},
		{"fragment", []string{svc("#atproto_pds", pdsType, `"https://pds.example.com#x"`)}, ""},
		{"no host", []string{svc("#atproto_pds", pdsType, `"https://"`)}, ""},
		{"not a URL", []string{svc("#atproto_pds", pdsType, `"pds.example.com"`)}, ""},
		{"map endpoint", []string{svc("#atproto_pds", pdsType, `{"origins":["https://pds.example.com"]}`)}, ""},
		{"null endpoint", []string{svc("#atproto_pds", pdsType, `null`)}, ""},
		{"no services", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ident, err := ParseDocument(testDID, doc(testDID, `"service":[`+strings.Join(c.services, ",")+`]`))
			if err != nil {
				t.Fatalf("a bad service must not fail the document: %v", err)
			}
			got, err := ident.PDSEndpoint()
			if c.want == "" {
				if !errors.Is(err, ErrNoPDS) || !errors.Is(err, ErrNoService) || got != "" {
					t.Fatalf("PDSEndpoint() = %q, %v; want ErrNoPDS", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("PDSEndpoint() = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestDeclaredHandleRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		aka  string
		want string
	}{
		{"first at:// entry", `["at://alice.example.com","at://bob.example.com"]`, "alice.example.com"},
		{"non-handle URIs skipped", `["https://alice.example.com","at://bob.example.com"]`, "bob.example.com"},
		{"invalid handle skipped", `["at://not_a_handle","at://bob.example.com"]`, "bob.example.com"},
		{"normalized to lower case", `["at://Alice.Example.COM"]`, "alice.example.com"},
		{"path is not a handle", `["at://alice.example.com/app.bsky.feed.post"]`, ""},
		{"bare at://", `["at://"]`, ""},
		{"empty list", `[]`, ""},
		{"null", `null`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ident, err := ParseDocument(testDID, doc(testDID, `"alsoKnownAs":`+c.aka))
			if err != nil {
				t.Fatal(err)
			}
			if string(ident.Handle) != c.want {
				t.Fatalf("Handle = %q, want %q", ident.Handle, c.want)
			}
		})
	}
}

func BenchmarkParseDocument(b *testing.B) {
	raw := readVector(b, "did_plc_doc.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDocument("did:plc:ewvi7nxzyoun6zhxrhs64oiz", raw); err != nil {
			b.Fatal(err)
		}
	}
}
