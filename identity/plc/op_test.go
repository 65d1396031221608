package plc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// The first two operations of did:plc:z72i7hdynmk6r22z27h6tvur (bsky.app)
// as published in its audit log on plc.directory (also the did-method-plc
// interop case audit_log/valid/log_bskyapp.json), with the CIDs the
// directory reported for them. Real signatures by real rotation keys.
const (
	knownDID        = "did:plc:z72i7hdynmk6r22z27h6tvur"
	knownGenesisCID = "bafyreigp6shzy6dlcxuowwoxz7u5nemdrkad2my5zwzpwilcnhih7bw6zm"
	knownUpdateCID  = "bafyreihmuvr3frdvd6vmdhucih277prdcfcezf67lasg5oekxoimnunjoq"
	knownGenesis    = `{
      "sig": "9NuYV7AqwHVTc0YuWzNV3CJafsSZWH7qCxHRUIP2xWlB-YexXC1OaYAnUayiCXLVzRQ8WBXIqF-SvZdNalwcjA",
      "prev": null,
      "type": "plc_operation",
      "services": {"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": "https://bsky.social"}},
      "alsoKnownAs": ["at://bluesky-team.bsky.social"],
      "rotationKeys": [
        "did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg",
        "did:key:zQ3shpKnbdPx3g3CmPf5cRVTPe1HtSwVn5ish3wSnDPQCbLJK"
      ],
      "verificationMethods": {"atproto": "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"}
    }`
	knownUpdate = `{
      "sig": "1mEWzRtFOgeRXH-YCSPTxb990JOXxa__n8Qw6BOKl7Ndm6OFFmwYKiiMqMCpAbxpnGjF5abfIsKc7u3a77Cbnw",
      "prev": "bafyreigp6shzy6dlcxuowwoxz7u5nemdrkad2my5zwzpwilcnhih7bw6zm",
      "type": "plc_operation",
      "services": {"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": "https://bsky.social"}},
      "alsoKnownAs": ["at://bsky.app"],
      "rotationKeys": [
        "did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg",
        "did:key:zQ3shpKnbdPx3g3CmPf5cRVTPe1HtSwVn5ish3wSnDPQCbLJK"
      ],
      "verificationMethods": {"atproto": "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"}
    }`
)

func mustParseOp(t testing.TB, s string) *Op {
	t.Helper()
	op, err := ParseOp([]byte(s))
	if err != nil {
		t.Fatalf("ParseOp: %v", err)
	}
	return op
}

func TestKnownVector(t *testing.T) {
	t.Parallel()
	genesis := mustParseOp(t, knownGenesis)
	update := mustParseOp(t, knownUpdate)

	if err := VerifyOp(genesis, nil); err != nil {
		t.Fatalf("VerifyOp(genesis): %v", err)
	}
	did, err := genesis.DID()
	if err != nil || did != knownDID {
		t.Fatalf("DID = %q, %v; want %s", did, err, knownDID)
	}
	for _, c := range []struct {
		op   *Op
		want string
	}{{genesis, knownGenesisCID}, {update, knownUpdateCID}} {
		got, err := c.op.CID()
		if err != nil || got.String() != c.want {
			t.Fatalf("CID = %v, %v; want %s", got, err, c.want)
		}
	}
	if err := VerifyOp(update, genesis); err != nil {
		t.Fatalf("VerifyOp(update, genesis): %v", err)
	}
	// The update is not a genesis and does not follow itself.
	if err := VerifyOp(update, nil); !errors.Is(err, ErrWrongPrev) {
		t.Fatalf("VerifyOp(update, nil) = %v, want ErrWrongPrev", err)
	}
	if err := VerifyOp(update, update); !errors.Is(err, ErrWrongPrev) {
		t.Fatalf("VerifyOp(update, update) = %v, want ErrWrongPrev", err)
	}
	// JSON round trip keeps the encoding, hence the CID.
	again := mustParseOp(t, string(mustJSON(t, update)))
	if c, _ := again.CID(); c.String() != knownUpdateCID {
		t.Fatalf("CID after JSON round trip = %s", c)
	}
	// The rendered state carries the handle of the head.
	data, err := DataFromOp(knownDID, update)
	if err != nil || data.AlsoKnownAs[0] != "at://bsky.app" {
		t.Fatalf("DataFromOp = %+v, %v", data, err)
	}
}

// TestGenesisDIDRule recomputes the DID independently of the package: the
// standard library base32 of the SHA-256 of the signed DAG-CBOR, lower-cased,
// first 24 characters.
func TestGenesisDIDRule(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{crypto.AlgK256, crypto.AlgP256} {
		signer := testKey(t, alg, 7)
		did, op, err := CreateGenesis([]crypto.PublicKey{signer.Public()}, testKey(t, crypto.AlgK256, 8).Public(),
			"alice.example.test", "https://pds.example.test", signer)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := op.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(signed)
		want := "did:plc:" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:24]
		if did != want {
			t.Fatalf("%s: DID %s, want %s", alg, did, want)
		}
		// Deterministic: the same signed operation, however it travels,
		// always gives the same DID and CID.
		again := mustParseOp(t, string(mustJSON(t, op)))
		if d2, _ := again.DID(); d2 != did {
			t.Fatalf("%s: DID after JSON round trip %s, want %s", alg, d2, did)
		}
		if c1, c2 := mustCID(t, op), mustCID(t, again); c1 != c2 || c1 != cid.Sum(cid.DagCBOR, signed) {
			t.Fatalf("%s: CIDs differ: %s %s", alg, c1, c2)
		}
		if err := VerifyOp(op, nil); err != nil {
			t.Fatalf("%s: VerifyOp: %v", alg, err)
		}
	}
}

func mustCID(t testing.TB, op *Op) cid.CID {
	t.Helper()
	c, err := op.CID()
	if err != nil {
		t.Fatalf("CID: %v", err)
	}
	return c
}

// TestEncodingShape checks the DAG-CBOR form that is signed and hashed:
// "sig" absent (not null) when unsigned, prev an explicit null for a
// genesis and a string (not a link) otherwise.
func TestEncodingShape(t *testing.T) {
	t.Parallel()
	a := newAccount(t, 1, "alice.example.test")
	genesis := a.head()
	decode := func(b []byte) map[string]any {
		var m map[string]any
		if err := dagcbor.Unmarshal(b, &m); err != nil {
			t.Fatalf("decode: %v", err)
		}
		return m
	}
	unsigned, err := genesis.UnsignedBytes()
	if err != nil {
		t.Fatal(err)
	}
	m := decode(unsigned)
	if _, ok := m["sig"]; ok {
		t.Fatal("unsigned encoding has a sig key")
	}
	if p, ok := m["prev"]; !ok || p != nil {
		t.Fatalf("genesis prev = %v (present %v), want explicit null", p, ok)
	}
	if len(m) != 6 {
		t.Fatalf("unsigned genesis has %d keys, want 6", len(m))
	}
	update := a.update(t, a.rotation, nil)
	m = decode(mustBytes(t, update))
	if p, ok := m["prev"].(string); !ok || p != mustCID(t, genesis).String() {
		t.Fatalf("update prev = %#v, want the genesis CID string", m["prev"])
	}
	if s, ok := m["sig"].(string); !ok || len(s) != sigStringLen {
		t.Fatalf("signed sig = %#v", m["sig"])
	}
	tomb, err := NewTombstone(genesis)
	if err != nil {
		t.Fatal(err)
	}
	if err := tomb.Sign(a.rotation); err != nil {
		t.Fatal(err)
	}
	if m := decode(mustBytes(t, tomb)); len(m) != 3 || m["type"] != TypeTombstone {
		t.Fatalf("tombstone = %v", m)
	}
}

func mustBytes(t testing.TB, op *Op) []byte {
	t.Helper()
	b, err := op.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	return b
}

func TestVerifyOpRejects(t *testing.T) {
	t.Parallel()
	a := newAccount(t, 2, "bob.example.test")
	genesis := a.head()
	stranger := testKey(t, crypto.AlgK256, 99)
	tomb, _ := NewTombstone(genesis)
	if err := tomb.Sign(a.rotation); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		op   func() *Op
		prev *Op
		want error
	}{
		{"good update by rotation key", func() *Op { return a.update(t, a.rotation, nil) }, genesis, nil},
		{"good update by recovery key", func() *Op { return a.update(t, a.recovery, nil) }, genesis, nil},
		{"signed by the signing key", func() *Op { return a.update(t, a.signing, nil) }, genesis, ErrBadSignature},
		{"signed by a stranger", func() *Op { return a.update(t, stranger, nil) }, genesis, ErrBadSignature},
		{"stranger adds itself as rotation key", func() *Op {
			return a.update(t, stranger, func(op *Op) { op.RotationKeys = []string{stranger.Public().DIDKey()} })
		}, genesis, ErrBadSignature},
		{"tampered after signing", func() *Op {
			op := a.update(t, a.rotation, nil)
			op.AlsoKnownAs = []string{"at://mallory.example.test"}
			return op
		}, genesis, ErrBadSignature},
		{"high-S K-256", func() *Op {
			op := a.update(t, a.rotation, nil)
			op.Sig = highS(t, crypto.AlgK256, op.Sig)
			return op
		}, genesis, ErrBadSignature},
		{"high-S P-256", func() *Op {
			op := a.update(t, a.recovery, nil)
			op.Sig = highS(t, crypto.AlgP256, op.Sig)
			return op
		}, genesis, ErrBadSignature},
		{"wrong prev", func() *Op {
			return a.update(t, a.rotation, func(op *Op) { op.Prev = cid.Sum(cid.DagCBOR, []byte("x")) })
		}, genesis, ErrWrongPrev},
		{"genesis after genesis", func() *Op { return newAccount(t, 3, "c.example.test").head() }, genesis, ErrWrongPrev},
		{"after a tombstone", func() *Op { return a.update(t, a.rotation, nil) }, tomb, ErrWrongPrev},
		{"unsigned", func() *Op { op, _ := NewUpdate(genesis); return op }, genesis, ErrUnsigned},
		{"genesis signed by a non-rotation key", func() *Op {
			op := genesis.Clone()
			if err := op.Sign(a.signing); err != nil {
				t.Fatal(err)
			}
			return op
		}, nil, ErrBadSignature},
	}
	for _, c := range cases {
		err := VerifyOp(c.op(), c.prev)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: VerifyOp = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestValidateLimits(t *testing.T) {
	t.Parallel()
	a := newAccount(t, 4, "dan.example.test")
	keys := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = testKey(t, crypto.AlgK256, byte(10+i)).Public().DIDKey()
		}
		return out
	}
	cases := []struct {
		name string
		edit func(*Op)
		ok   bool
	}{
		{"five rotation keys", func(op *Op) { op.RotationKeys = keys(5) }, true},
		{"six rotation keys", func(op *Op) { op.RotationKeys = keys(6) }, false},
		{"no rotation keys", func(op *Op) { op.RotationKeys = nil }, false},
		{"duplicate rotation key", func(op *Op) { op.RotationKeys = []string{keys(1)[0], keys(1)[0]} }, false},
		{"rotation key not a did:key", func(op *Op) { op.RotationKeys = []string{"zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg"} }, false},
		{"signing key malformed", func(op *Op) { op.VerificationMethods["atproto"] = "did:key:zzz" }, false},
		{"verification id with #", func(op *Op) { op.VerificationMethods["#atproto"] = keys(1)[0] }, false},
		{"verification id too long", func(op *Op) { op.VerificationMethods[strings.Repeat("a", 33)] = keys(1)[0] }, false},
		{"no handle is fine", func(op *Op) { op.AlsoKnownAs = nil }, true},
		{"invalid handle", func(op *Op) { op.AlsoKnownAs = []string{"at://not_a_handle"} }, false},
		{"alsoKnownAs not a URI", func(op *Op) { op.AlsoKnownAs = []string{"just words"} }, false},
		{"duplicate alsoKnownAs", func(op *Op) { op.AlsoKnownAs = []string{"at://a.test", "at://a.test"} }, false},
		{"alsoKnownAs too long", func(op *Op) { op.AlsoKnownAs = []string{"https://x.test/" + strings.Repeat("a", 250)} }, false},
		{"endpoint not http", func(op *Op) { op.SetPDSEndpoint("ftp://pds.example.test") }, false},
		{"endpoint without host", func(op *Op) { op.SetPDSEndpoint("https://") }, false},
		{"endpoint with user info", func(op *Op) { op.SetPDSEndpoint("https://u:p@pds.example.test") }, false},
		{"empty service type", func(op *Op) { op.Services["x"] = Service{Endpoint: "https://x.test"} }, false},
		{"too many services", func(op *Op) {
			for i := range 11 {
				op.Services[string(rune('a'+i))] = Service{Type: "T", Endpoint: "https://x.test"}
			}
		}, false},
		{"over MaxOpSize", func(op *Op) {
			// Each field and count is within its own limit; together they
			// are not.
			for i := range 9 {
				op.Services[strings.Repeat(string(rune('a'+i)), 32)] = Service{Type: strings.Repeat("t", 256), Endpoint: "https://x.test/" + strings.Repeat("p", 400)}
			}
		}, false},
	}
	for _, c := range cases {
		op, err := NewUpdate(a.head())
		if err != nil {
			t.Fatal(err)
		}
		c.edit(op)
		err = op.Sign(a.rotation)
		if err == nil {
			err = op.Validate()
		}
		if c.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidOp) {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
		}
		if c.name == "over MaxOpSize" && !errors.Is(err, ErrOpTooLarge) {
			t.Errorf("%s: err = %v, want ErrOpTooLarge", c.name, err)
		}
	}
}

func TestParseOpStrict(t *testing.T) {
	t.Parallel()
	good := string(mustJSON(t, mustParseOp(t, knownUpdate)))
	sig := "1mEWzRtFOgeRXH-YCSPTxb990JOXxa__n8Qw6BOKl7Ndm6OFFmwYKiiMqMCpAbxpnGjF5abfIsKc7u3a77Cbnw"
	prev := knownGenesisCID
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	set := func(key, raw string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(good), &m); err != nil {
			t.Fatal(err)
		}
		m[key] = json.RawMessage(raw)
		return string(mustJSON(t, m))
	}
	cases := []struct {
		name, body string
	}{
		{"not JSON", "{"},
		{"null", "null"},
		{"array", "[]"},
		{"unknown key", replace(`"type":`, `"extra":1,"type":`)},
		{"miscased key", replace(`"alsoKnownAs"`, `"AlsoKnownAs"`)},
		{"missing key", replace(`"alsoKnownAs":["at://bsky.app"],`, ``)},
		{"null rotation keys", set("rotationKeys", "null")},
		{"null verification methods", set("verificationMethods", "null")},
		{"null alsoKnownAs", set("alsoKnownAs", "null")},
		{"null services", set("services", "null")},
		{"null type", set("type", "null")},
		{"rotation keys not strings", set("rotationKeys", "[1]")},
		{"services not objects", set("services", `{"atproto_pds":"https://x.test"}`)},
		{"number type", replace(`"type":"plc_operation"`, `"type":1`)},
		{"unknown type", replace(`"type":"plc_operation"`, `"type":"plc_other"`)},
		{"legacy create", `{"type":"create","signingKey":"did:key:z","recoveryKey":"did:key:z","handle":"a.test","service":"https://a.test","prev":null,"sig":"` + sig + `"}`},
		{"sig with padding chars", replace(sig, sig+"==")},
		{"sig with a line break", replace(sig, sig[:40]+`\n`+sig[40:])},
		{"sig padding bits set", replace(sig, sig[:85]+"x")}, // 'w' is canonical, 'x' sets a padding bit
		{"sig standard alphabet", replace(sig, strings.ReplaceAll(strings.ReplaceAll(sig, "-", "+"), "_", "/"))},
		{"sig too short", replace(sig, sig[:84])},
		{"sig null", replace(`"sig":"`+sig+`"`, `"sig":null`)},
		{"prev upper case", replace(prev, strings.ToUpper(prev))},
		{"prev raw codec", replace(prev, cid.Sum(cid.Raw, []byte("x")).String())},
		{"prev not a CID", replace(prev, "bafy")},
		{"service extra key", replace(`"endpoint":"https://bsky.social"`, `"endpoint":"https://bsky.social","x":1`)},
		{"service missing endpoint", replace(`,"endpoint":"https://bsky.social"`, ``)},
		{"service null", replace(`{"type":"AtprotoPersonalDataServer","endpoint":"https://bsky.social"}`, `null`)},
		{"tombstone null prev", `{"type":"plc_tombstone","prev":null,"sig":"` + sig + `"}`},
		{"tombstone extra key", `{"type":"plc_tombstone","prev":"` + prev + `","sig":"` + sig + `","rotationKeys":[]}`},
	}
	if _, err := ParseOp([]byte(good)); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	for _, c := range cases {
		_, err := ParseOp([]byte(c.body))
		if !errors.Is(err, ErrInvalidOp) {
			t.Errorf("%s: ParseOp = %v, want ErrInvalidOp", c.name, err)
		}
	}
	if _, err := ParseOp([]byte(`{"type":"create"}`)); !errors.Is(err, ErrLegacyOp) {
		t.Errorf("legacy create: %v, want ErrLegacyOp", err)
	}
}

func TestCreateGenesisChecks(t *testing.T) {
	t.Parallel()
	rot := testKey(t, crypto.AlgK256, 20)
	other := testKey(t, crypto.AlgK256, 21)
	sk := testKey(t, crypto.AlgP256, 22).Public()
	if _, _, err := CreateGenesis([]crypto.PublicKey{rot.Public()}, sk, "a.test", "https://p.test", other); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("signer outside rotation keys: %v", err)
	}
	if _, _, err := CreateGenesis([]crypto.PublicKey{rot.Public()}, sk, "bad handle", "https://p.test", rot); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("bad handle: %v", err)
	}
	did, op, err := CreateGenesis([]crypto.PublicKey{rot.Public()}, sk, "", "", rot)
	if err != nil || CheckDID(did) != nil || len(op.AlsoKnownAs) != 0 || len(op.Services) != 0 {
		t.Fatalf("minimal genesis: %s %+v %v", did, op, err)
	}
	if op.VerificationMethods[SigningKeyID] != sk.DIDKey() {
		t.Fatalf("signing key = %q", op.VerificationMethods[SigningKeyID])
	}
}

func TestSetHandleReplacesFirst(t *testing.T) {
	t.Parallel()
	op := &Op{Type: TypeOperation, AlsoKnownAs: []string{"https://x.test", "at://old.test", "at://other.test"}, Sig: []byte{1}}
	orig := op.AlsoKnownAs
	op.SetHandle("new.test")
	want := []string{"https://x.test", "at://new.test", "at://other.test"}
	if strings.Join(op.AlsoKnownAs, " ") != strings.Join(want, " ") || op.Sig != nil {
		t.Fatalf("after SetHandle: %v sig %v", op.AlsoKnownAs, op.Sig)
	}
	if orig[1] != "at://old.test" {
		t.Fatal("SetHandle modified the shared slice of a copied op")
	}
	op = &Op{Type: TypeOperation}
	op.SetHandle("h.test")
	if len(op.AlsoKnownAs) != 1 || op.AlsoKnownAs[0] != "at://h.test" {
		t.Fatalf("SetHandle on empty: %v", op.AlsoKnownAs)
	}
}

func TestCheckDID(t *testing.T) {
	t.Parallel()
	for did, ok := range map[string]bool{
		knownDID:                            true,
		"did:plc:z72i7hdynmk6r22z27h6tvu":   false,
		"did:plc:z72i7hdynmk6r22z27h6tvurr": false,
		"did:plc:Z72I7HDYNMK6R22Z27H6TVUR":  false,
		"did:plc:z72i7hdynmk6r22z27h6tvu1":  false,
		"did:web:z72i7hdynmk6r22z27h6tvur":  false,
		"":                                  false,
	} {
		if err := CheckDID(did); (err == nil) != ok || err != nil && !errors.Is(err, ErrInvalidDID) {
			t.Errorf("CheckDID(%q) = %v, want ok=%v", did, err, ok)
		}
	}
}

func TestDecodeStoredRoundTrip(t *testing.T) {
	t.Parallel()
	a := newAccount(t, 5, "eve.example.test")
	tomb, _ := NewTombstone(a.head())
	if err := tomb.Sign(a.rotation); err != nil {
		t.Fatal(err)
	}
	for _, op := range []*Op{a.head(), a.update(t, a.rotation, nil), tomb, mustParseOp(t, knownUpdate)} {
		b := mustBytes(t, op)
		got, err := decodeStored(b)
		if err != nil {
			t.Fatalf("decodeStored: %v", err)
		}
		if !bytes.Equal(mustBytes(t, got), b) {
			t.Fatalf("stored %s does not re-encode identically", op.Type)
		}
	}
}
