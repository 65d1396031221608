package plc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
)

// checkIdentity resolves a.did through our identity package, both from the
// raw document and through a Resolver pointed at the directory, and checks
// the facts atproto uses.
func checkIdentity(t *testing.T, f *fixture, a *account, handle string, signing crypto.PublicKey) {
	t.Helper()
	status, hdr, raw := f.request(t, http.MethodGet, "/"+a.did, nil)
	if status != http.StatusOK {
		t.Fatalf("GET document: %d %s", status, raw)
	}
	if ct := hdr.Get("Content-Type"); ct != contentTypeDIDJSON {
		t.Fatalf("Content-Type = %q", ct)
	}
	parsed, err := identity.ParseDocument(a.did, raw)
	if err != nil {
		t.Fatalf("ParseDocument: %v", err)
	}
	r, err := identity.NewResolver(identity.Config{PLCURL: f.srv.URL, HTTPClient: f.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := r.Resolve(t.Context(), a.did)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	for _, id := range []*identity.Identity{parsed, resolved} {
		k, err := id.PublicKey()
		if err != nil || !k.Equal(signing) {
			t.Fatalf("signing key = %v, %v; want %s", k, err, signing.DIDKey())
		}
		if string(id.Handle) != handle {
			t.Fatalf("handle = %q, want %q", id.Handle, handle)
		}
		if pds, err := id.PDSEndpoint(); err != nil || pds != "https://pds.example.test" {
			t.Fatalf("PDS = %q, %v", pds, err)
		}
	}
}

func TestGenesisResolves(t *testing.T) {
	t.Parallel()
	f := newFixture(t, DirectoryConfig{})
	a := newAccount(t, 1, "alice.example.test")
	f.submit(t, a.did, a.head())
	checkIdentity(t, f, a, "alice.example.test", a.signing.Public())

	// The TypeScript resolver percent-encodes the DID (encodeURIComponent).
	escaped := strings.ReplaceAll(a.did, ":", "%3A")
	status, hdr, raw := f.request(t, http.MethodGet, "/"+escaped, nil)
	if status != http.StatusOK || hdr.Get(DevDirectoryHeader) != "true" {
		t.Fatalf("GET escaped DID: %d %s (dev header %q)", status, raw, hdr.Get(DevDirectoryHeader))
	}
	doc, err := f.client.Resolve(t.Context(), a.did)
	if err != nil || doc.ID != a.did {
		t.Fatalf("Client.Resolve: %+v %v", doc, err)
	}
	want, err := f.dir.DocumentFor(a.did)
	if err != nil || !bytes.Equal(mustJSON(t, want), raw) {
		t.Fatalf("DocumentFor differs from the served document: %v\n%s\n%s", err, mustJSON(t, want), raw)
	}
	// The K-256 signing key brings the secp256k1 context, nothing else.
	wantCtx := []string{contextDID, contextMultikey, contextK256}
	if strings.Join(doc.Context, " ") != strings.Join(wantCtx, " ") {
		t.Fatalf("@context = %v", doc.Context)
	}
}

// TestDocumentMatchesPLCDirectory renders the state behind a real
// plc.directory document and compares it with that document, as indigo
// recorded it.
func TestDocumentMatchesPLCDirectory(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../../shared/testdata/indigo/identity/did_plc_doc.json")
	if err != nil {
		t.Fatal(err)
	}
	data := &Data{
		DID:                 "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
		VerificationMethods: map[string]string{"atproto": "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"},
		AlsoKnownAs:         []string{"at://atproto.com"},
		Services:            map[string]Service{"atproto_pds": {Type: PDSType, Endpoint: "https://bsky.social"}},
	}
	doc, err := data.Document()
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mustJSON(t, doc), &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustJSON(t, want), mustJSON(t, got)) {
		t.Fatalf("rendered document differs from plc.directory's:\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, want))
	}
}

func TestUpdatesRotateKeyAndHandle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, DirectoryConfig{})
	a := newAccount(t, 2, "bob.example.test")
	f.submit(t, a.did, a.head())

	newSigning := testKey(t, crypto.AlgP256, 77)
	op := a.update(t, a.rotation, func(op *Op) {
		op.SetSigningKey(newSigning.Public())
		op.SetHandle("robert.example.test")
	})
	f.submit(t, a.did, op)
	a.ops = append(a.ops, op)
	checkIdentity(t, f, a, "robert.example.test", newSigning.Public())

	// The recovery key (a rotation key of the head) may sign too.
	op = a.update(t, a.recovery, func(op *Op) { op.SetHandle("bobby.example.test") })
	f.submit(t, a.did, op)
	a.ops = append(a.ops, op)
	checkIdentity(t, f, a, "bobby.example.test", newSigning.Public())

	doc, err := f.client.Resolve(t.Context(), a.did)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(doc.Context, " "), contextP256) {
		t.Fatalf("P-256 signing key without its context: %v", doc.Context)
	}
	checkLogs(t, f, a)
}

// checkLogs compares every log endpoint with the operations a submitted.
func checkLogs(t *testing.T, f *fixture, a *account) {
	t.Helper()
	ctx := t.Context()
	audit, err := f.client.AuditLog(ctx, a.did)
	if err != nil || len(audit) != len(a.ops) {
		t.Fatalf("AuditLog: %d entries, %v; want %d", len(audit), err, len(a.ops))
	}
	for i, e := range audit {
		if e.DID != a.did || e.Nullified || e.CID != mustCID(t, a.ops[i]).String() ||
			!bytes.Equal(mustBytes(t, e.Operation), mustBytes(t, a.ops[i])) {
			t.Fatalf("audit entry %d = %+v", i, e)
		}
		if _, err := time.Parse(createdAtLayout, e.CreatedAt); err != nil {
			t.Fatalf("createdAt %q: %v", e.CreatedAt, err)
		}
	}
	status, _, raw := f.request(t, http.MethodGet, "/"+a.did+"/log", nil)
	var ops []*Op
	if status != http.StatusOK || json.Unmarshal(raw, &ops) != nil || len(ops) != len(a.ops) {
		t.Fatalf("GET log: %d %s", status, raw)
	}
	for i := range ops {
		if !bytes.Equal(mustBytes(t, ops[i]), mustBytes(t, a.ops[i])) {
			t.Fatalf("log op %d differs", i)
		}
	}
	last, err := f.client.LastOp(ctx, a.did)
	if err != nil || !bytes.Equal(mustBytes(t, last), mustBytes(t, a.head())) {
		t.Fatalf("LastOp: %v", err)
	}
	if a.head().IsTombstone() {
		return
	}
	data, err := f.client.Data(ctx, a.did)
	want, _ := DataFromOp(a.did, a.head())
	if err != nil || !bytes.Equal(mustJSON(t, data), mustJSON(t, want)) {
		t.Fatalf("Data = %s, %v; want %s", mustJSON(t, data), err, mustJSON(t, want))
	}
}

func TestRejectedSubmissions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, DirectoryConfig{})
	a := newAccount(t, 3, "carol.example.test")
	f.submit(t, a.did, a.head())
	other := newAccount(t, 4, "dave.example.test")
	stranger := testKey(t, crypto.AlgK256, 98)

	body := func(op *Op) []byte { return mustJSON(t, op) }
	tampered := func() []byte {
		var m map[string]any
		if err := json.Unmarshal(body(a.update(t, a.rotation, nil)), &m); err != nil {
			t.Fatal(err)
		}
		m["alsoKnownAs"] = []string{"at://mallory.example.test"}
		return mustJSON(t, m)
	}
	withSig := func(op *Op, sig []byte) []byte { op.Sig = sig; return body(op) }
	const (
		badSig   = "signature does not verify"
		wrongPrv = "prev is not the current head"
	)
	third := newAccount(t, 12, "erin.example.test").did
	cases := []struct {
		name string
		did  string
		body []byte
		want string // in the message
	}{
		{"random signature", a.did, withSig(a.update(t, a.rotation, nil), bytes.Repeat([]byte{7}, 64)), badSig},
		{"signed by the signing key", a.did, body(a.update(t, a.signing, nil)), badSig},
		{"signed by a stranger", a.did, body(a.update(t, stranger, nil)), badSig},
		{"high-S", a.did, func() []byte {
			op := a.update(t, a.rotation, nil)
			return withSig(op, highS(t, crypto.AlgK256, op.Sig))
		}(), badSig},
		{"tampered field", a.did, tampered(), badSig},
		{"wrong prev", a.did, body(a.update(t, a.rotation, func(op *Op) { op.Prev = cid.Sum(cid.DagCBOR, []byte("nope")) })), wrongPrv},
		{"genesis again", a.did, body(newAccount(t, 3, "carol2.example.test").head()), wrongPrv},
		{"genesis posted to another DID", third, body(other.head()), "does not hash to the DID"},
		{"update of an unknown DID", other.did, body(a.update(t, a.rotation, nil)), "not registered"},
		{"oversize body", a.did, append(body(a.update(t, a.rotation, nil)), bytes.Repeat([]byte(" "), MaxBodySize)...), "too large"},
		{"oversize op", a.did, body(a.update(t, a.rotation, func(op *Op) {
			for i := range 9 { // with atproto_pds, the most services allowed
				op.Services[strings.Repeat(string(rune('a'+i)), 32)] = Service{Type: "T", Endpoint: "https://x.test/" + strings.Repeat("p", 490)}
			}
		})), "too large"},
		{"not JSON", a.did, []byte("{{{"), "invalid PLC operation"},
		{"empty body", a.did, nil, "invalid PLC operation"},
		{"legacy create", a.did, []byte(`{"type":"create"}`), "legacy"},
		{"invalid DID", "did:plc:short", body(a.update(t, a.rotation, nil)), "invalid did:plc"},
	}
	before, err := f.dir.AuditLog(a.did)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		status, hdr, raw := f.request(t, http.MethodPost, "/"+c.did, c.body)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d %s, want 400", c.name, status, raw)
			continue
		}
		if hdr.Get("Content-Type") != contentTypeJSON {
			t.Errorf("%s: Content-Type %q", c.name, hdr.Get("Content-Type"))
		}
		if msg := message(t, raw); !strings.Contains(msg, c.want) {
			t.Errorf("%s: message %q, want it to mention %q", c.name, msg, c.want)
		}
	}
	after, err := f.dir.AuditLog(a.did)
	if err != nil || !bytes.Equal(mustJSON(t, before), mustJSON(t, after)) {
		t.Fatalf("rejected operations changed the log: %v", err)
	}
	for _, did := range []string{other.did, third} {
		if _, err := f.dir.AuditLog(did); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s stored: %v", did, err)
		}
	}
}

func TestClientErrorsUnwrap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, DirectoryConfig{NoSync: true})
	a := newAccount(t, 13, "frank.example.test")
	f.submit(t, a.did, a.head())
	err := f.client.Submit(t.Context(), a.did, a.update(t, testKey(t, crypto.AlgK256, 97), nil))
	var se *StatusError
	if !errors.Is(err, ErrRejected) || !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest ||
		!strings.Contains(se.Message, "signature") {
		t.Fatalf("Client.Submit of a bad op = %v", err)
	}
	if _, err := f.client.LastOp(t.Context(), newAccount(t, 14, "g.example.test").did); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Client.LastOp unknown = %v", err)
	}
	if _, err := f.client.Data(t.Context(), "did:plc:bad"); !errors.Is(err, ErrInvalidDID) {
		t.Fatalf("Client.Data malformed DID = %v", err)
	}
	if _, err := (&Client{}).Data(t.Context(), a.did); err == nil {
		t.Fatal("Client without BaseURL worked")
	}
}

func TestUnknownAndMalformedDIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, DirectoryConfig{})
	unknown := newAccount(t, 5, "x.example.test").did
	for _, suffix := range []string{"", "/data", "/log", "/log/audit", "/log/last"} {
		status, hdr, raw := f.request(t, http.MethodGet, "/"+unknown+suffix, nil)
		if status != http.StatusNotFound || hdr.Get(DevDirectoryHeader) != "true" {
			t.Errorf("GET unknown%s: %d", suffix, status)
		}
		message(t, raw)
		status, _, raw = f.request(t, http.MethodGet, "/did:plc:nope"+suffix, nil)
		if status != http.StatusBadRequest {
			t.Errorf("GET malformed%s: %d %s", suffix, status, raw)
		}
	}
	if _, err := f.client.Resolve(t.Context(), unknown); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Client.Resolve unknown: %v", err)
	}
	r, _ := identity.NewResolver(identity.Config{PLCURL: f.srv.URL, HTTPClient: f.srv.Client()})
	if _, err := r.Resolve(t.Context(), unknown); !errors.Is(err, identity.ErrDIDNotFound) {
		t.Fatalf("identity.Resolve unknown: %v", err)
	}
	status, _, raw := f.request(t, http.MethodGet, "/_health", nil)
	if status != http.StatusOK || !strings.Contains(string(raw), healthVersion) {
		t.Fatalf("health: %d %s", status, raw)
	}
}

func TestTombstone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, DirectoryConfig{})
	a := newAccount(t, 6, "gone.example.test")
	f.submit(t, a.did, a.head())
	tomb, err := NewTombstone(a.head())
	if err != nil {
		t.Fatal(err)
	}
	if err := tomb.Sign(a.signing); err != nil {
		t.Fatal(err)
	}
	if err := f.client.Submit(t.Context(), a.did, tomb); !errors.Is(err, ErrRejected) {
		t.Fatalf("tombstone by the signing key: %v", err)
	}
	if err := tomb.Sign(a.recovery); err != nil {
		t.Fatal(err)
	}
	f.submit(t, a.did, tomb)
	a.ops = append(a.ops, tomb)

	for _, suffix := range []string{"", "/data"} {
		status, _, raw := f.request(t, http.MethodGet, "/"+a.did+suffix, nil)
		if status != http.StatusGone {
			t.Fatalf("GET tombstoned%s: %d %s", suffix, status, raw)
		}
		message(t, raw)
	}
	r, _ := identity.NewResolver(identity.Config{PLCURL: f.srv.URL, HTTPClient: f.srv.Client()})
	if _, err := r.Resolve(t.Context(), a.did); !errors.Is(err, identity.ErrDIDTombstoned) {
		t.Fatalf("identity.Resolve tombstoned: %v", err)
	}
	if _, err := f.client.Resolve(t.Context(), a.did); !errors.Is(err, ErrTombstoned) {
		t.Fatalf("Client.Resolve tombstoned: %v", err)
	}
	if _, err := f.dir.DocumentFor(a.did); !errors.Is(err, ErrTombstoned) {
		t.Fatalf("DocumentFor tombstoned: %v", err)
	}
	checkLogs(t, f, a)

	// Nothing follows a tombstone, signed by whichever key.
	after := &Op{Type: TypeOperation, RotationKeys: a.ops[0].RotationKeys, Prev: mustCID(t, tomb)}
	after.SetSigningKey(a.signing.Public())
	if err := after.Sign(a.rotation); err != nil {
		t.Fatal(err)
	}
	if err := f.client.Submit(t.Context(), a.did, after); !errors.Is(err, ErrRejected) {
		t.Fatalf("update after tombstone: %v", err)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	cfg := DirectoryConfig{Dir: dir, Logger: quietLogger(), Now: func() time.Time { return clock }}
	d, err := NewDirectory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, 7, "persist.example.test")
	b := newAccount(t, 8, "other.example.test")
	for _, acc := range []*account{a, b} {
		if err := d.Submit(acc.did, acc.head()); err != nil {
			t.Fatal(err)
		}
	}
	op := a.update(t, a.rotation, func(op *Op) { op.SetHandle("persisted.example.test") })
	if err := d.Submit(a.did, op); err != nil {
		t.Fatal(err)
	}
	a.ops = append(a.ops, op)
	before, _ := d.AuditLog(a.did)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := d.DocumentFor(a.did); !errors.Is(err, ErrClosed) {
		t.Fatalf("DocumentFor after Close: %v", err)
	}

	cfg.Now = nil
	f := newFixture(t, cfg)
	after, err := f.dir.AuditLog(a.did)
	if err != nil || !bytes.Equal(mustJSON(t, before), mustJSON(t, after)) {
		t.Fatalf("audit log after restart: %v\n%s\n%s", err, mustJSON(t, before), mustJSON(t, after))
	}
	if after[0].CreatedAt != "2025-03-04T05:06:07.891Z" {
		t.Fatalf("createdAt = %q", after[0].CreatedAt)
	}
	checkIdentity(t, f, a, "persisted.example.test", a.signing.Public())
	checkLogs(t, f, a)
	if _, err := f.dir.DocumentFor(b.did); err != nil {
		t.Fatalf("second DID after restart: %v", err)
	}
	// The log continues where it stopped.
	op = a.update(t, a.recovery, nil)
	f.submit(t, a.did, op)
	a.ops = append(a.ops, op)
	checkLogs(t, f, a)
}

func TestSharedDB(t *testing.T) {
	t.Parallel()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: pebbleLogger{quietLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, DirectoryConfig{DB: db, NoSync: true})
	t.Cleanup(func() {
		// The directory (closed by the fixture first) must not have
		// closed the caller's database.
		if err := db.Close(); err != nil {
			t.Errorf("closing the caller's DB: %v", err)
		}
	})
	a := newAccount(t, 9, "shared.example.test")
	f.submit(t, a.did, a.head())
	checkIdentity(t, f, a, "shared.example.test", a.signing.Public())
	if _, err := NewDirectory(DirectoryConfig{DB: db, Dir: "x"}); err == nil {
		t.Fatal("NewDirectory accepted both DB and Dir")
	}
	if _, err := NewDirectory(DirectoryConfig{}); err == nil {
		t.Fatal("NewDirectory accepted neither DB nor Dir")
	}
}

func TestResubmitHeadIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, DirectoryConfig{NoSync: true})
	a := newAccount(t, 10, "retry.example.test")
	f.submit(t, a.did, a.head())
	f.submit(t, a.did, a.head())
	op := a.update(t, a.rotation, nil)
	f.submit(t, a.did, op)
	f.submit(t, a.did, op)
	a.ops = append(a.ops, op)
	checkLogs(t, f, a)
	// Re-submitting an older operation is not a retry: its prev is stale.
	if err := f.client.Submit(t.Context(), a.did, a.ops[0]); !errors.Is(err, ErrRejected) {
		t.Fatalf("resubmitting the genesis after an update: %v", err)
	}
}

// TestConcurrentUpdatesOneWins races updates that all name the same head:
// exactly one may be accepted, or the log would fork.
func TestConcurrentUpdatesOneWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, DirectoryConfig{NoSync: true})
	a := newAccount(t, 11, "race.example.test")
	f.submit(t, a.did, a.head())
	const n = 8
	ops := make([]*Op, n)
	for i := range ops {
		ops[i] = a.update(t, a.rotation, func(op *Op) { op.SetHandle("race" + string(rune('a'+i)) + ".example.test") })
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range ops {
		wg.Go(func() { errs[i] = f.client.Submit(context.Background(), a.did, ops[i]) })
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			a.ops = append(a.ops, ops[i])
		case !errors.Is(err, ErrRejected):
			t.Fatalf("update %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d concurrent updates of the same head accepted, want 1", winners)
	}
	checkLogs(t, f, a)
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, DirectoryConfig{NoSync: true})
	for _, p := range []string{"/", "/a/b/c/d", "/did:plc:z72i7hdynmk6r22z27h6tvur/nope"} {
		status, hdr, raw := f.request(t, http.MethodGet, p, nil)
		if status != http.StatusNotFound || hdr.Get(DevDirectoryHeader) != "true" {
			t.Errorf("GET %s: %d", p, status)
		}
		message(t, raw)
	}
}

func TestDocumentRejectsUnknownKeyType(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF", "did:key:z0OIl", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"} {
		data := &Data{DID: knownDID, VerificationMethods: map[string]string{"atproto": k}}
		if _, err := data.Document(); err == nil {
			t.Errorf("Document rendered key %q", k)
		}
	}
}
