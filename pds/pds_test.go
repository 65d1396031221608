package pds

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// New validates its config and starts nothing; writes wait for Run; Close
// is idempotent and releases waiting writes; metrics land in the registry.
func TestLifecycleOfTheHost(t *testing.T) {
	t.Parallel()
	for _, bad := range []Config{
		{PublicURL: "http://127.0.0.1:1", HandleDomains: []string{".test"}},
		{DataDir: t.TempDir(), PublicURL: "ftp://x", HandleDomains: []string{".test"}},
		{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:1"},
		{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:1", HandleDomains: []string{".test"}, DIDMethod: "key"},
		{DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:1", HandleDomains: []string{".test"}, SigningAlg: "RS256"},
	} {
		if _, err := New(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v, want ErrConfig", bad, err)
		}
	}
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *Config) { c.Registry = reg })
	acct, err := e.pds.CreateAccount(t.Context(), CreateAccountInput{Handle: "m.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pds.ApplyWrites(t.Context(), acct.DID, []Write{{Action: repo.Create, Collection: "app.bsky.feed.post", Value: post("m")}}, cid.Undef); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pds.ApplyWrites(t.Context(), acct.DID, []Write{{Action: repo.Create, Collection: "bad", Value: post("m")}}, cid.Undef); err == nil {
		t.Fatal("bad collection accepted")
	}
	gathered := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			gathered[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"conflux_pds_writes_total/ok":              1,
		"conflux_pds_writes_total/invalid_request": 1,
		"conflux_pds_record_ops_total/create":      1,
		"conflux_eventlog_appends_total":           4, // #identity, #account, 2 #commit
	} {
		if gathered[name] != want {
			t.Errorf("%s = %v, want %v", name, gathered[name], want)
		}
	}
	if err := e.pds.Run(t.Context()); err == nil {
		t.Fatal("second Run accepted")
	}
	if err := e.pds.Close(); err == nil {
		t.Fatal("Close while running accepted")
	}
	e.stop()

	// A host that never runs: a write waits, and Close releases it.
	cfg := e.cfg
	cfg.Registry = nil
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := p.ApplyWrites(context.Background(), acct.DID, []Write{{Action: repo.Create, Collection: "app.bsky.feed.post", Value: post("w")}}, cid.Undef)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("write before Run returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	for range 2 {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-got; !errors.Is(err, ErrNotRunning) {
		t.Fatalf("write released by Close: %v", err)
	}
	if err := p.Run(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
}
