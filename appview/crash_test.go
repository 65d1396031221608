package appview

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

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

func waitCursor(t *testing.T, s *Server, seq int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
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

// TestCrashRestartIsByteIdentical crashes the indexer (a Pebble crash clone
// that keeps only synced data, plus a random share of unsynced data) at 24
// random points of the stream; after each restart and the final catch-up
// the index must equal a clean single-pass index byte for byte.
func TestCrashRestartIsByteIdentical(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	drive(t, h, 12, 1500, 2)
	m := marker(t, h)
	_, want, head := cleanIndex(t, h, m)

	rng := rand.New(rand.NewPCG(3, 4))
	points := make([]int64, 24)
	for i := range points {
		points[i] = 1 + rng.Int64N(head)
	}
	slices.Sort(points)
	fs := vfs.NewCrashableMem()
	open := func() *pebble.DB {
		db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietPebble{t}})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	for _, p := range points {
		db := open()
		s, err := New(Config{RelayURL: h.url, DB: db, NoVerify: true, MaxBatchEvents: 1 + rng.IntN(64),
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		_, stop := runServer(t, s)
		waitCursor(t, s, p)
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(50), RNG: rand.New(rand.NewPCG(rng.Uint64(), 0))})
		stop()
		_ = db.Close()
		fs = crashed
	}
	db := open()
	defer db.Close()
	s, err := New(Config{RelayURL: h.url, DB: db, NoVerify: true, Logger: quiet(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := runServer(t, s)
	waitCursor(t, s, head)
	stop()
	if got := dumpDB(t, db); !bytes.Equal(got, want) {
		t.Fatalf("index after %d crashes differs from the clean one (%d vs %d bytes)", len(points), len(got), len(want))
	}
}

// TestRewindReplayChangesNothing rewinds the stored cursor and replays a
// range twice: the index must not change.
func TestRewindReplayChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	drive(t, h, 6, 400, 5)
	m := marker(t, h)
	db, want, head := cleanIndex(t, h, m)
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

// quietPebble keeps Pebble's recovery chatter out of the test output.
type quietPebble struct{ t testing.TB }

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(string, ...any)          {}
func (q quietPebble) Fatalf(f string, args ...any) { q.t.Fatalf(f, args...) }
