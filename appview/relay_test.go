package appview

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/relay"
)

// TestIndexFromRelay runs two hosts with synthetic activity behind a
// Conflux relay, indexes the relay's firehose with verification on, and
// compares every count and every view with the truth computed from the
// hosts' getRepo CARs (truth_test.go). Then one account is deactivated and
// another deleted: their records must leave every count and view (the
// deleted one's purged); the deactivated one is reactivated and must count
// again.
func TestIndexFromRelay(t *testing.T) {
	t.Parallel()
	plcURL := newPLC(t)
	hosts := []*host{newHostOn(t, plcURL), newHostOn(t, plcURL)}
	relayURL := startRelay(t, plcURL, hosts)
	for i, h := range hosts {
		drive(t, h, 6, 200, int64(20+i))
	}
	db := openDB(t)
	s, err := New(Config{RelayURL: relayURL, DB: db, Resolver: hosts[0].resolver, NoSync: true,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := runServer(t, s)
	defer stop()
	sync := func(tr *truth) {
		t.Helper()
		for _, h := range hosts {
			waitIndexed(t, db, marker(t, h))
		}
		for _, h := range hosts {
			tr.fetchHost(t, h)
		}
	}
	tr := newTruth()
	sync(tr)
	checkAgainstTruth(t, s.Handler(), tr)

	// Accounts other than the markers' authors (the first of each host).
	accts0, err := hosts[0].pds.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	accts1, err := hosts[1].pds.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	deactivated, deleted := accts0[1].DID, accts1[2].DID
	if err := hosts[0].pds.DeactivateAccount(t.Context(), deactivated); err != nil {
		t.Fatal(err)
	}
	if err := hosts[1].pds.DeleteAccount(t.Context(), deleted); err != nil {
		t.Fatal(err)
	}
	tr.hidden[deactivated], tr.hidden[deleted] = true, true
	sync(tr)
	checkAgainstTruth(t, s.Handler(), tr)
	if ids, err := index.RecordCIDs(db, deleted); err != nil || len(ids) != 0 {
		t.Errorf("the deleted account's %d records were not purged (%v)", len(ids), err)
	}

	if err := hosts[0].pds.ActivateAccount(t.Context(), deactivated); err != nil {
		t.Fatal(err)
	}
	delete(tr.hidden, deactivated)
	sync(tr)
	checkAgainstTruth(t, s.Handler(), tr)
}

// startRelay runs a Conflux relay crawling the hosts and returns its URL.
func startRelay(t *testing.T, plcURL string, hosts []*host) string {
	t.Helper()
	r, err := relay.New(relay.Config{DataDir: t.TempDir(), PLCURL: plcURL, Dev: true, NoSync: true,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = r.Close() })
	relaySrv := httptest.NewServer(r.Handler())
	t.Cleanup(relaySrv.Close)
	for _, h := range hosts {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := r.AddHost(t.Context(), h.url, relay.HostOptions{Backfill: true})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("AddHost %s: %v", h.url, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return relaySrv.URL
}
