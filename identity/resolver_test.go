package identity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// plcServer is a test PLC directory: GET /{did} serves the document stored
// for did, or the stored status. It counts requests per path.
type plcServer struct {
	*httptest.Server
	mu       sync.Mutex
	docs     map[string][]byte
	status   map[string]int
	requests atomic.Int64
	// gate, if set, is called for each request after the document to
	// serve has been read, and may block.
	gate func(r *http.Request)
}

func newPLCServer(t *testing.T) *plcServer {
	t.Helper()
	s := &plcServer{docs: map[string][]byte{}, status: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *plcServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	did := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	doc, status, gate := s.docs[did], s.status[did], s.gate
	s.mu.Unlock()
	if gate != nil {
		gate(r)
	}
	if r.Method != http.MethodGet {
		status = http.StatusMethodNotAllowed
	}
	switch {
	case status != 0:
		w.WriteHeader(status)
	case doc == nil:
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "application/did+ld+json")
		_, _ = w.Write(doc)
	}
}

func (s *plcServer) set(did string, doc []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[did], s.status[did] = doc, status
}

func (s *plcServer) setGate(gate func(r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = gate
}

func newTestResolver(t *testing.T, cfg Config) *Resolver {
	t.Helper()
	r, err := NewResolver(cfg)
	if err != nil {
		t.Fatalf("NewResolver: %v", err)
	}
	return r
}

func TestResolvePLCVectors(t *testing.T) {
	t.Parallel()
	for _, c := range vectorCases {
		if !strings.HasPrefix(c.did, "did:plc:") {
			continue
		}
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			raw := readVector(t, c.file)
			srv := newPLCServer(t)
			srv.set(c.did, raw, 0)
			r := newTestResolver(t, Config{PLCURL: srv.URL + "/"})
			ident, err := r.Resolve(t.Context(), c.did)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			checkVector(t, c, ident, raw)
			if n := srv.requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestResolveWebVector(t *testing.T) {
	t.Parallel()
	c := vectorCases[2]
	raw := readVector(t, c.file)
	var gotPath, gotAccept, gotUA atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath.Store(r.URL.Path)
		gotAccept.Store(r.Header.Get("Accept"))
		gotUA.Store(r.Header.Get("User-Agent"))
		_, _ = w.Write(raw)
	}))
	t.Cleanup(srv.Close)
	r := newTestResolver(t, Config{
		WebHosts:  map[string]string{"discover.bsky.social": srv.URL},
		UserAgent: "conflux-test",
	})
	ident, err := r.Resolve(t.Context(), c.did)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	checkVector(t, c, ident, raw)
	if ep, err := ident.ServiceEndpoint("bsky_fg", "BskyFeedGenerator"); err != nil || ep != "https://discover.bsky.social" {
		t.Errorf("ServiceEndpoint(bsky_fg) = %q, %v", ep, err)
	}
	if p := gotPath.Load(); p != "/.well-known/did.json" {
		t.Errorf("path = %v", p)
	}
	if a, _ := gotAccept.Load().(string); !strings.Contains(a, "application/did+ld+json") {
		t.Errorf("Accept = %q", a)
	}
	if ua := gotUA.Load(); ua != "conflux-test" {
		t.Errorf("User-Agent = %v", ua)
	}
}

// TestResolveWebLocalhost resolves did:web:localhost%3APORT over http in
// development mode, against a document naming that DID.
func TestResolveWebLocalhost(t *testing.T) {
	t.Parallel()
	var did string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/did.json" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(doc(did,
			`"alsoKnownAs":["at://dev.test"]`,
			`"verificationMethod":[`+vm(did+"#atproto", "Multikey", did, p256Key)+`]`,
			`"service":[`+svc("#atproto_pds", pdsType, `"http://localhost:2583"`)+`]`))
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	did = "did:web:localhost%3A" + u.Port()

	ident, err := newTestResolver(t, Config{DevLocalhost: true}).Resolve(t.Context(), did)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if ident.Handle != "dev.test" {
		t.Errorf("Handle = %q", ident.Handle)
	}
	if pds, err := ident.PDSEndpoint(); err != nil || pds != "http://localhost:2583" {
		t.Errorf("PDSEndpoint() = %q, %v", pds, err)
	}
	if k, err := ident.PublicKey(); err != nil || k.Multibase() != p256Key {
		t.Errorf("PublicKey() = %v, %v", k, err)
	}

	// Outside development mode the same DID is refused before any request.
	if _, err := newTestResolver(t, Config{}).Resolve(t.Context(), did); !errors.Is(err, ErrInvalidDID) {
		t.Errorf("production mode: error = %v, want ErrInvalidDID", err)
	}
}

func TestWebHostRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		did  string
		dev  bool
		want string // "" means ErrInvalidDID
	}{
		{"did:web:example.com", false, "example.com"},
		{"did:web:sub.example.co.uk", false, "sub.example.co.uk"},
		{"did:web:localhost%3A2583", true, "localhost:2583"},
		{"did:web:localhost%3a2583", true, "localhost:2583"},
		{"did:web:localhost", true, "localhost"},
		{"did:web:dev.test", true, "dev.test"},
		{"did:web:localhost", false, ""},
		{"did:web:localhost%3A2583", false, ""},
		{"did:web:dev.test", false, ""},
		{"did:web:example.com%3A443", true, ""},
		{"did:web:example.com:user:alice", false, ""},
		{"did:web:localhost%3A0", true, ""},
		{"did:web:localhost%3A080", true, ""},
		{"did:web:localhost%3A65536", true, ""},
		{"did:web:localhost%3A", true, ""},
		{"did:web:localhost%3Ax", true, ""},
		{"did:web:exa%6Dple.com", false, ""},
		{"did:web:127.0.0.1", false, ""},
		{"did:web:com", false, ""},
		{"did:web:printer.local", false, ""},
		{"did:web:x.onion", false, ""},
		{"did:web:1.in-addr.arpa", false, ""},
		{"did:web:a.internal", false, ""},
		{"did:web:-bad.example.com", false, ""},
	}
	for _, c := range cases {
		r := newTestResolver(t, Config{DevLocalhost: c.dev})
		got, err := r.webHost(didOf(t, c.did))
		if c.want == "" {
			if !errors.Is(err, ErrInvalidDID) {
				t.Errorf("webHost(%q, dev=%v) = %q, %v; want ErrInvalidDID", c.did, c.dev, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("webHost(%q, dev=%v) = %q, %v; want %q", c.did, c.dev, got, err, c.want)
		}
	}
}

func TestResolvePLCStatus(t *testing.T) {
	t.Parallel()
	const (
		missing    = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
		tombstoned = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
		broken     = "did:plc:cccccccccccccccccccccccc"
		wrongID    = "did:plc:dddddddddddddddddddddddd"
		huge       = "did:plc:eeeeeeeeeeeeeeeeeeeeeeee"
		atLimit    = "did:plc:ffffffffffffffffffffffff"
		redirected = "did:plc:gggggggggggggggggggggggg"
	)
	const limit = 1024
	srv := newPLCServer(t)
	srv.set(tombstoned, nil, http.StatusGone)
	srv.set(broken, nil, http.StatusInternalServerError)
	srv.set(redirected, nil, http.StatusFound)
	srv.set(wrongID, readVector(t, "did_plc_doc.json"), 0)
	pad := func(did string, n int) []byte {
		d := doc(did, `"x":""`)
		return doc(did, `"x":"`+strings.Repeat("a", n-len(d))+`"`)
	}
	srv.set(huge, pad(huge, limit+1), 0)
	srv.set(atLimit, pad(atLimit, limit), 0)
	r := newTestResolver(t, Config{PLCURL: srv.URL, MaxDocumentSize: limit})
	cases := []struct {
		did  string
		want error
	}{
		{missing, ErrDIDNotFound},
		{tombstoned, ErrDIDTombstoned},
		{broken, ErrResolutionFailed},
		{redirected, ErrResolutionFailed},
		{wrongID, ErrInvalidDocument},
		{huge, ErrDocumentTooLarge},
		{"did:plc:short", ErrInvalidDID},
		{"did:plc:AAAAAAAAAAAAAAAAAAAAAAAA", ErrInvalidDID},
		{"did:example:123", ErrUnsupportedMethod},
		{"not a did", ErrInvalidDID},
	}
	for _, c := range cases {
		ident, err := r.Resolve(t.Context(), c.did)
		if !errors.Is(err, c.want) || ident != nil {
			t.Errorf("Resolve(%s) = %v, %v; want %v", c.did, ident, err, c.want)
		}
	}
	if _, err := r.Resolve(t.Context(), atLimit); err != nil {
		t.Errorf("document of exactly MaxDocumentSize bytes: %v", err)
	}
	if errors.Is(mustErr(r.Resolve(t.Context(), tombstoned)), ErrDIDNotFound) {
		t.Error("ErrDIDTombstoned must be distinct from ErrDIDNotFound")
	}
}

func mustErr(_ *Identity, err error) error { return err }

func didOf(t testing.TB, s string) syntax.DID {
	t.Helper()
	d, err := syntax.ParseDID(s)
	if err != nil {
		t.Fatalf("ParseDID(%q): %v", s, err)
	}
	return d
}

// TestResolveOversizedStream checks the limit holds when the server sends
// no Content-Length (a chunked body), so only the read limit can stop it.
func TestResolveOversizedStream(t *testing.T) {
	t.Parallel()
	const did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat(" ", 4096))
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	r := newTestResolver(t, Config{PLCURL: srv.URL, MaxDocumentSize: 8192})
	if _, err := r.Resolve(t.Context(), did); !errors.Is(err, ErrDocumentTooLarge) {
		t.Fatalf("error = %v, want ErrDocumentTooLarge", err)
	}
}

func TestResolveKey(t *testing.T) {
	t.Parallel()
	gens := map[string]func() (crypto.PrivateKey, error){
		crypto.AlgK256: crypto.GenerateK256,
		crypto.AlgP256: crypto.GenerateP256,
	}
	r := newTestResolver(t, Config{PLCURL: "http://127.0.0.1:1"}) // never contacted
	for alg, gen := range gens {
		priv, err := gen()
		if err != nil {
			t.Fatal(err)
		}
		did := priv.Public().DIDKey()
		ident, err := r.Resolve(t.Context(), did)
		if err != nil {
			t.Fatalf("%s: Resolve(%s): %v", alg, did, err)
		}
		if string(ident.DID) != did || ident.Handle != "" {
			t.Errorf("%s: DID %q handle %q", alg, ident.DID, ident.Handle)
		}
		k, err := ident.PublicKey()
		if err != nil || !k.Equal(priv.Public()) || k.Alg() != alg {
			t.Errorf("%s: PublicKey() = %v, %v", alg, k, err)
		}
		if _, err := ident.PDSEndpoint(); !errors.Is(err, ErrNoPDS) {
			t.Errorf("%s: PDSEndpoint() error = %v, want ErrNoPDS", alg, err)
		}
		// The synthesized document is a real DID document: parsing it
		// again yields the same key.
		again, err := ParseDocument(did, ident.Raw)
		if err != nil {
			t.Fatalf("%s: reparse synthesized document: %v", alg, err)
		}
		if k2, err := again.PublicKey(); err != nil || !k2.Equal(k) {
			t.Errorf("%s: reparsed key = %v, %v", alg, k2, err)
		}
		// A signature made by the private key verifies with the resolved key.
		sig, err := priv.Sign([]byte("conflux"))
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Verify([]byte("conflux"), sig); err != nil {
			t.Errorf("%s: Verify: %v", alg, err)
		}
	}
	if _, err := r.Resolve(t.Context(), "did:key:zQ3notakey"); !errors.Is(err, ErrInvalidDID) {
		t.Errorf("bad did:key: error = %v, want ErrInvalidDID", err)
	}
}

func TestResolveContextCanceled(t *testing.T) {
	t.Parallel()
	srv := newPLCServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	// Hold the response until the client has given up, so the outcome
	// does not depend on which side wins a race.
	srv.setGate(func(r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	r := newTestResolver(t, Config{PLCURL: srv.URL})
	_, err := r.Resolve(ctx, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrResolutionFailed) {
		t.Fatalf("error = %v, want context.Canceled and ErrResolutionFailed", err)
	}
}

func TestNewResolverConfig(t *testing.T) {
	t.Parallel()
	r := newTestResolver(t, Config{})
	if r.plcURL != DefaultPLCURL || r.maxSize != MaxDocumentSize || r.client == nil || r.client.Timeout == 0 {
		t.Errorf("defaults not applied: %+v", r)
	}
	bad := []Config{
		{PLCURL: "ftp://plc.example.com"},
		{PLCURL: "plc.directory"},
		{PLCURL: "https://plc.example.com/?x=1"},
		{MaxDocumentSize: -1},
		{WebHosts: map[string]string{"example.com": "example.com:443"}},
	}
	for _, cfg := range bad {
		if _, err := NewResolver(cfg); err == nil {
			t.Errorf("NewResolver(%+v) accepted a bad config", cfg)
		}
	}
}
