package appview

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/firehose/consumer"
)

func dumpDB(t *testing.T, db *pebble.DB) []byte {
	t.Helper()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var buf bytes.Buffer
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Fprintf(&buf, "%q=%q\n", it.Key(), it.Value())
	}
	return buf.Bytes()
}

// cursorWait bounds a wait for the indexer to reach a seq; it only turns a
// hang into a failure, so it is generous for a loaded -race run.
const cursorWait = 5 * time.Minute

func waitCursor(t *testing.T, s *Server, seq int64) {
	t.Helper()
	deadline := time.Now().Add(cursorWait)
	for s.Cursor() < seq {
		if time.Now().After(deadline) {
			t.Fatalf("cursor stuck at %d, want %d", s.Cursor(), seq)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// cleanIndex indexes the host's whole stream in one pass and returns the
// dump and the head seq (the marker's).
func cleanIndex(t *testing.T, h *host, markerURI string) (*pebble.DB, []byte, int64) {
	t.Helper()
	db := openDB(t)
	s, stop := startAppView(t, h, db, true)
	waitIndexed(t, db, markerURI)
	head := s.Cursor()
	stop()
	return db, dumpDB(t, db), head
}

// TestCrashRestartIsByteIdentical crashes the indexer (see crashAndCatchUp)
// at 24 random points of a PDS's stream of about 1.5k events, with commit
// proofs and signatures verified; after each restart and the final
// catch-up the index must equal a clean single-pass index byte for byte.
func TestCrashRestartIsByteIdentical(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	drive(t, h, 12, 1500, 2)
	m := marker(t, h)
	_, want, head := cleanIndex(t, h, m)
	cfg := Config{RelayURL: h.url, Resolver: h.resolver}
	if got := crashAndCatchUp(t, cfg, head, 24, 64, rand.New(rand.NewPCG(3, 4))); !bytes.Equal(got, want) {
		t.Fatalf("index after 24 crashes differs from the clean one (%d vs %d bytes)", len(got), len(want))
	}
}

// TestCrashRestartLargeStream is the acceptance run: 50k synthetic actions
// (posts, replies, quotes, likes, reposts, follows, profiles, deletes) as
// signed #commit events with CAR slices, served from an event log by a
// subscribeRepos server; the indexer is crashed at 24 random points and,
// after the catch-up, must equal a clean single-pass index byte for byte.
// Verification is off here (the smaller test keeps it on) to keep the run
// short under -race; the clean pass runs alongside the crashing one.
func TestCrashRestartLargeStream(t *testing.T) {
	if testing.Short() {
		t.Skip("50k-event stream")
	}
	t.Parallel()
	const actions = 50_000
	r := serveStream(t, 200, actions, 7)
	if r.head < actions {
		t.Fatalf("stream has %d events, want at least %d", r.head, actions)
	}
	cfg := Config{RelayURL: r.url, NoVerify: true}
	clean, err := pebble.Open(t.TempDir(), testPebbleOptions(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = clean.Close() })
	cleanDone := make(chan error, 1)
	go func() { cleanDone <- indexOnce(cfg, clean, r.head) }()
	got := crashAndCatchUp(t, cfg, r.head, 24, 256, rand.New(rand.NewPCG(5, 6)))
	if err := <-cleanDone; err != nil {
		t.Fatal(err)
	}
	if want := dumpDB(t, clean); !bytes.Equal(got, want) {
		t.Fatalf("index after 24 crashes differs from the clean one (%d vs %d bytes)", len(got), len(want))
	}
}

// indexOnce indexes cfg's stream into db in one pass up to head, without
// fsync. It may run off the test goroutine, so it returns its failure.
func indexOnce(cfg Config, db *pebble.DB, head int64) error {
	cfg.DB, cfg.NoSync, cfg.MaxBatchEvents, cfg.Logger = db, true, 256, quiet()
	s, err := New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(cursorWait)
	for s.Cursor() < head && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		return err
	}
	if s.Cursor() < head {
		return fmt.Errorf("clean pass stuck at %d, want %d", s.Cursor(), head)
	}
	return nil
}

// crashAndCatchUp indexes the stream of cfg.RelayURL up to head into a
// crashable in-memory Pebble, crashing it at n random points: each crash is
// a Pebble crash clone that keeps only synced data plus a random share of
// unsynced data, and the next run starts from the clone. Batches of 1 to
// maxBatch events are committed with fsync (NoSync would let a crash lose
// committed cursors, which is not the model). It returns the dump after the
// final catch-up.
func crashAndCatchUp(t *testing.T, cfg Config, head int64, n, maxBatch int, rng *rand.Rand) []byte {
	t.Helper()
	points := make([]int64, n)
	for i := range points {
		points[i] = 1 + rng.Int64N(head)
	}
	slices.Sort(points)
	fs := vfs.NewCrashableMem()
	// run opens the store and starts an indexer on it; stop stops the
	// indexer, then closes the store. A failed wait leaves both to the
	// test's cleanup, which stops before it closes.
	run := func(batch int) (*pebble.DB, *Server, func()) {
		db, err := pebble.Open("db", testPebbleOptions(t, fs))
		if err != nil {
			t.Fatal(err)
		}
		closeDB := sync.OnceFunc(func() { _ = db.Close() })
		t.Cleanup(closeDB)
		c := cfg
		c.DB, c.MaxBatchEvents, c.Logger = db, batch, quiet()
		c.MinBackoff, c.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		_, stopServer := runServer(t, s)
		stopServer = sync.OnceFunc(stopServer)
		t.Cleanup(stopServer)
		return db, s, func() { stopServer(); closeDB() }
	}
	for _, p := range points {
		_, s, stop := run(1 + rng.IntN(maxBatch))
		waitCursor(t, s, p)
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(50), RNG: rand.New(rand.NewPCG(rng.Uint64(), 0))})
		stop()
		fs = crashed
	}
	db, s, stop := run(0)
	defer stop()
	waitCursor(t, s, head)
	return dumpDB(t, db)
}

// TestRewindReplayChangesNothing rewinds the stored cursor and replays a
// range twice: the index must not change. The stream ends with one account
// deactivated and one deleted, so the replays also hide, show and purge.
func TestRewindReplayChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	drive(t, h, 6, 400, 5)
	accts, err := h.pds.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.pds.DeactivateAccount(t.Context(), accts[1].DID); err != nil {
		t.Fatal(err)
	}
	if err := h.pds.DeleteAccount(t.Context(), accts[2].DID); err != nil {
		t.Fatal(err)
	}
	m := marker(t, h)
	db, want, head := cleanIndex(t, h, m)
	if ids, err := index.RecordCIDs(db, accts[2].DID); err != nil || len(ids) != 0 {
		t.Fatalf("deleted account not purged: %d records (%v)", len(ids), err)
	}
	if a, err := index.GetActor(db, accts[1].DID); err != nil || !a.Hidden() {
		t.Fatalf("deactivated account not hidden: %+v (%v)", a, err)
	}
	cp, err := consumer.NewCheckpoint(db, ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []int64{head / 3, head / 3, 1} {
		if err := cp.Set(db, from); err != nil {
			t.Fatal(err)
		}
		s, err := New(Config{RelayURL: h.url, DB: db, NoVerify: true, Logger: quiet(),
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, stop := runServer(t, s)
		waitCursor(t, s, head)
		stop()
		if got := dumpDB(t, db); !bytes.Equal(got, want) {
			t.Fatalf("replay from %d changed the index", from)
		}
	}
}

// testPebbleOptions keeps a whole test index in memtables: Pebble's
// invariant checks, on under -race, record a stack trace for every sstable
// iterator, and that dominated the indexing time of the large stream.
func testPebbleOptions(t testing.TB, fs vfs.FS) *pebble.Options {
	return &pebble.Options{FS: fs, Logger: quietPebble{t}, MemTableSize: 64 << 20}
}

// quietPebble keeps Pebble's recovery chatter out of the test output.
type quietPebble struct{ t testing.TB }

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(string, ...any)          {}
func (q quietPebble) Fatalf(f string, args ...any) { q.t.Fatalf(f, args...) }
