// Package pdstest runs a real pds.PDS on 127.0.0.1 for other packages'
// tests: a host serving XRPC and its subscribeRepos firehose, stopped and
// closed when the test ends.
package pdstest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/conflux-atproto/conflux/pds"
)

// Start runs a host with cfg on a free loopback port and returns it with its
// URL. An empty DataDir becomes a temporary directory; PublicURL is always the
// listener's address. Zero values elsewhere get test-friendly defaults:
// did:web accounts under ".test", the cheapest bcrypt cost, no fsync.
func Start(t testing.TB, cfg pds.Config) (*pds.PDS, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	cfg.PublicURL = u
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.DIDMethod == "" && cfg.PLCURL == "" {
		cfg.DIDMethod = pds.DIDMethodWeb
	}
	if cfg.HandleDomains == nil {
		cfg.HandleDomains = []string{".test"}
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = 4
	}
	cfg.NoSync = true
	p, err := pds.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: p.Handler()}}
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pds Run: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("pds Close: %v", err)
		}
	})
	return p, u
}
