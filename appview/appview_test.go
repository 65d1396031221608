package appview

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// marker writes one more post and returns its URI: once the AppView has
// indexed it, it has indexed everything before it.
func marker(t testing.TB, h *host) string {
	t.Helper()
	accts, err := h.pds.Accounts()
	if err != nil || len(accts) == 0 {
		t.Fatal(err)
	}
	res, err := h.pds.ApplyWrites(t.Context(), accts[0].DID, []pds.Write{{Action: repo.Create,
		Collection: lexicon.NSIDFeedPost, Value: map[string]any{"text": "marker " + strconv.FormatInt(time.Now().UnixNano(), 10),
			"createdAt": "2026-03-02T00:00:00.000Z"}}}, cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	return res.Results[0].URI
}

// startAppView runs an AppView on db against the host until the test ends.
func startAppView(t *testing.T, h *host, db *pebble.DB, noVerify bool) (*Server, func()) {
	t.Helper()
	s, err := New(Config{RelayURL: h.url, DB: db, NoVerify: noVerify, Resolver: h.resolver, NoSync: true,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return runServer(t, s)
}

// runServer runs s until the returned stop is called.
func runServer(t *testing.T, s *Server) (*Server, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	return s, stop
}

func waitIndexed(t *testing.T, db *pebble.DB, uri string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok, err := index.GetRecord(db, uri); err != nil {
			t.Fatal(err)
		} else if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s was never indexed", uri)
}

func openDB(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietPebble{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestIndexMatchesHosts(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	drive(t, h, 8, 300, 1)
	db := openDB(t)
	s, stop := startAppView(t, h, db, false)
	defer stop()
	waitIndexed(t, db, marker(t, h))
	checkAgainstTruth(t, s.Handler(), groundTruth(t, h))
}
