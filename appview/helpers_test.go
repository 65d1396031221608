package appview

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/identity/plc"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/pds/synthhost"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// host is a running PDS behind a real HTTP server with a development PLC
// directory, plus a resolver for its accounts' signing keys.
type host struct {
	pds      *pds.PDS
	url      string
	resolver *identity.Cache
}

func newHost(t testing.TB) *host { return newHostOn(t, newPLC(t)) }

// newPLC runs a development PLC directory and returns its URL.
func newPLC(t testing.TB) string {
	t.Helper()
	dir, err := plc.NewDirectory(plc.DirectoryConfig{Dir: t.TempDir(), NoSync: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	plcSrv := httptest.NewServer(dir)
	t.Cleanup(func() { plcSrv.Close(); _ = dir.Close() })
	return plcSrv.URL
}

// newHostOn runs a PDS registering its accounts with the PLC at plcURL.
func newHostOn(t testing.TB, plcURL string) *host {
	t.Helper()
	h := &host{}
	var handler http.Handler
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	p, err := pds.New(pds.Config{DataDir: t.TempDir(), PublicURL: srv.URL, PLCURL: plcURL,
		HandleDomains: []string{".test"}, AdminPassword: "admin", BcryptCost: 4, NoSync: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h.pds = p
	handler = p.Handler()
	close(ready)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = p.Close()
	})
	res, err := identity.NewResolver(identity.Config{PLCURL: plcURL, DevLocalhost: true, WebHosts: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if h.resolver, err = identity.NewCache(res, identity.CacheConfig{}); err != nil {
		t.Fatal(err)
	}
	return h
}

// drive runs the synthetic driver for n actions by users accounts.
func drive(t testing.TB, h *host, users int, n int64, seed int64) {
	t.Helper()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var tick int64
	d, err := synth.New(synth.Config{Host: synthhost.Host{PDS: h.pds}, Users: users, MaxWrites: n, Seed: seed, Workers: 4,
		Now: func() time.Time { tick++; return start.Add(time.Duration(tick) * time.Millisecond) }, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// xrpcGet calls an XRPC query on handler, checks the status, validates a
// 200 body against the lexicon output schema and decodes it into out.
func xrpcGet(t *testing.T, hd http.Handler, nsid string, q url.Values, wantStatus int, out any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/xrpc/"+nsid+"?"+q.Encode(), nil)
	rec := httptest.NewRecorder()
	hd.ServeHTTP(rec, req)
	if rec.Code != wantStatus {
		t.Fatalf("%s?%s: status %d, want %d: %s", nsid, q.Encode(), rec.Code, wantStatus, rec.Body)
	}
	if rec.Code == http.StatusOK {
		generic, err := dagcbor.FromJSON(rec.Body.Bytes())
		if err != nil {
			t.Fatalf("%s: output is not data-model JSON: %v", nsid, err)
		}
		if err := lexicon.Default().ValidateOutput(nsid, generic); err != nil {
			t.Fatalf("%s: output does not match the lexicon: %v\n%s", nsid, err, rec.Body)
		}
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatal(err)
		}
	}
}
