package appview

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/relay"
)

// TestIndexFromRelay runs two hosts with synthetic activity behind a
// Conflux relay, indexes the relay's firehose with verification on, and
// compares every count and feed with the hosts' own records.
func TestIndexFromRelay(t *testing.T) {
	t.Parallel()
	plcURL := newPLC(t)
	hosts := []*host{newHostOn(t, plcURL), newHostOn(t, plcURL)}
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
	for i, h := range hosts {
		drive(t, h, 6, 200, int64(20+i))
	}
	db := openDB(t)
	s, err := New(Config{RelayURL: relaySrv.URL, DB: db, Resolver: hosts[0].resolver, NoSync: true,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := runServer(t, s)
	defer stop()
	for _, h := range hosts {
		waitIndexed(t, db, marker(t, h))
	}
	checkAgainstTruth(t, s.Handler(), groundTruth(t, hosts...))
}
