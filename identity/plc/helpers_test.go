package plc

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/conflux-atproto/conflux/repo/crypto"
)

// testKey returns a fixed key for seed, so test identities are stable.
func testKey(t testing.TB, alg string, seed byte) crypto.PrivateKey {
	t.Helper()
	scalar := bytes.Repeat([]byte{seed}, 32)
	k, err := crypto.ParsePrivateBytes(alg, scalar)
	if err != nil {
		t.Fatalf("key %s/%d: %v", alg, seed, err)
	}
	return k
}

// account is a test identity: its keys and its operations so far.
type account struct {
	did      string
	rotation crypto.PrivateKey // rotation key 0
	recovery crypto.PrivateKey // rotation key 1 (P-256, to cover both curves)
	signing  crypto.PrivateKey
	ops      []*Op
}

func (a *account) head() *Op { return a.ops[len(a.ops)-1] }

func newAccount(t testing.TB, seed byte, handle string) *account {
	t.Helper()
	a := &account{
		rotation: testKey(t, crypto.AlgK256, seed),
		recovery: testKey(t, crypto.AlgP256, seed),
		signing:  testKey(t, crypto.AlgK256, seed+100),
	}
	did, op, err := CreateGenesis(
		[]crypto.PublicKey{a.rotation.Public(), a.recovery.Public()},
		a.signing.Public(), handle, "https://pds.example.test", a.rotation)
	if err != nil {
		t.Fatalf("CreateGenesis: %v", err)
	}
	a.did, a.ops = did, []*Op{op}
	return a
}

// update builds and signs an update of a's head with signer, applying edit.
func (a *account) update(t testing.TB, signer crypto.PrivateKey, edit func(*Op)) *Op {
	t.Helper()
	op, err := NewUpdate(a.head())
	if err != nil {
		t.Fatalf("NewUpdate: %v", err)
	}
	if edit != nil {
		edit(op)
	}
	if err := op.Sign(signer); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return op
}

// highS returns the high-S twin of a low-S signature: same r, s' = n - s.
// It verifies mathematically, so only the low-S rule rejects it.
func highS(t testing.TB, alg string, sig []byte) []byte {
	t.Helper()
	var n *big.Int
	switch alg {
	case crypto.AlgP256:
		n = elliptic.P256().Params().N
	case crypto.AlgK256:
		n, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)
	}
	s := new(big.Int).SetBytes(sig[32:])
	out := bytes.Clone(sig[:32])
	return append(out, new(big.Int).Sub(n, s).FillBytes(make([]byte, 32))...)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// fixture is a Directory behind a real HTTP server.
type fixture struct {
	dir    *Directory
	srv    *httptest.Server
	client *Client
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newFixture(t testing.TB, cfg DirectoryConfig) *fixture {
	t.Helper()
	if cfg.DB == nil && cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	d, err := NewDirectory(cfg)
	if err != nil {
		t.Fatalf("NewDirectory: %v", err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(func() {
		srv.Close()
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &fixture{dir: d, srv: srv, client: &Client{BaseURL: srv.URL, HTTPClient: srv.Client()}}
}

func (f *fixture) submit(t testing.TB, did string, op *Op) {
	t.Helper()
	if err := f.client.Submit(context.Background(), did, op); err != nil {
		t.Fatalf("Submit %s: %v", did, err)
	}
}

// request performs one raw request and returns status, headers and body.
func (f *fixture) request(t testing.TB, method, path string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, out
}

// message extracts {"message": ...} from an error body, failing if absent.
func message(t testing.TB, body []byte) string {
	t.Helper()
	var m struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Message == "" {
		t.Fatalf("error body %q is not {\"message\": ...}", body)
	}
	return m.Message
}
