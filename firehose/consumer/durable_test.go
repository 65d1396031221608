package consumer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/conflux-atproto/conflux/firehose"
)

// quietPebble keeps Pebble's own lines out of test output.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(string, ...any)          {}
func (quietPebble) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

func openDB(t testing.TB, dir string, fs vfs.FS) *pebble.DB {
	t.Helper()
	opts := &pebble.Options{Logger: quietPebble{}}
	if fs != nil {
		opts.FS = fs
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		t.Fatalf("open pebble: %v", err)
	}
	return db
}

// counterIndex is a durable handler with state that punishes any replay,
// loss or reordering: a counter per DID, a total, and a hash chain over the
// seqs in processing order. It reads its state through the batch.
type counterIndex struct {
	// before, if set, runs first (cut points).
	before func(ev Event, b *pebble.Batch) error
	// last cancels when that seq was handled.
	last   int64
	cancel context.CancelFunc
}

func (x *counterIndex) HandleEvent(_ context.Context, ev Event, b *pebble.Batch) error {
	if x.before != nil {
		if err := x.before(ev, b); err != nil {
			return err
		}
	}
	id, ok := ev.Frame.Msg.(*firehose.Identity)
	if !ok {
		return fmt.Errorf("unexpected %T", ev.Frame.Msg)
	}
	if err := addOne(b, []byte("c/"+id.DID)); err != nil {
		return err
	}
	if err := addOne(b, []byte("n")); err != nil {
		return err
	}
	prev, err := get(b, []byte("h"))
	if err != nil {
		return err
	}
	if err := b.Set([]byte("h"), chain(prev, ev.Seq), nil); err != nil {
		return err
	}
	if ev.Seq == x.last && x.cancel != nil {
		x.cancel()
	}
	return nil
}

func chain(prev []byte, seq int64) []byte {
	h := sha256.New()
	h.Write(prev)
	_ = binary.Write(h, binary.BigEndian, seq)
	return h.Sum(nil)
}

func get(r pebble.Reader, k []byte) ([]byte, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

func addOne(b *pebble.Batch, k []byte) error {
	v, err := get(b, k)
	if err != nil {
		return err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	return b.Set(k, binary.BigEndian.AppendUint64(nil, n+1), nil)
}

// dump returns every key and value of db.
func dump(t testing.TB, db *pebble.DB) map[string]string {
	t.Helper()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	m := map[string]string{}
	for it.First(); it.Valid(); it.Next() {
		m[string(it.Key())] = string(it.Value())
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return m
}

// expectedState is the exact DB content after events 1..k were applied once
// each, in order, by counterIndex under consumer name.
func expectedState(name string, k int64) map[string]string {
	m := map[string]string{}
	if k == 0 {
		return m
	}
	counts := map[string]uint64{}
	var h []byte
	for seq := int64(1); seq <= k; seq++ {
		counts[didOf(seq)]++
		h = chain(h, seq)
	}
	for did, n := range counts {
		m["c/"+did] = string(binary.BigEndian.AppendUint64(nil, n))
	}
	m["n"] = string(binary.BigEndian.AppendUint64(nil, uint64(k)))
	m["h"] = string(h)
	m[string(CursorKey(name))] = string(encodeCursor(k))
	return m
}

func diffStates(want, got map[string]string) string {
	var d []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			d = append(d, fmt.Sprintf("missing %q", k))
		} else if g != v {
			d = append(d, fmt.Sprintf("%q = %x, want %x", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("extra %q", k))
		}
	}
	sort.Strings(d)
	return fmt.Sprint(d)
}

func loadCursor(t testing.TB, db *pebble.DB, name string) int64 {
	t.Helper()
	cp, err := NewCheckpoint(db, name)
	if err != nil {
		t.Fatal(err)
	}
	seq, ok, err := cp.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return 0
	}
	return seq
}

func durableConfig(url string, db *pebble.DB, name string, h DurableHandler, maxBatch int) Config {
	return Config{
		URL:        url,
		Durable:    &Durable{DB: db, Name: name, Handler: h, MaxBatchEvents: maxBatch},
		MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
	}
}

// The durable consumer stores its cursor in the same batch as the
// handler's effects and resumes from it; two consumers share one DB under
// their own names.
func TestDurableResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	const n = 200
	frames := identityFrames(t, n)
	srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	db := openDB(t, t.TempDir(), nil)
	defer db.Close()

	run := func(name string, stopAt int64, maxBatch int) *Consumer {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		c, err := New(durableConfig(srv.URL(), db, name, &counterIndex{last: stopAt, cancel: cancel}, maxBatch))
		if err != nil {
			t.Fatal(err)
		}
		if err := runConsumer(t, ctx, c); err != nil {
			t.Fatalf("Run %s: %v", name, err)
		}
		return c
	}
	run("first", 80, 1)
	if got := loadCursor(t, db, "first"); got != 80 {
		t.Fatalf("stored cursor %d, want 80", got)
	}
	if diff := diffStates(expectedState("first", 80), dump(t, db)); diff != "[]" {
		t.Fatalf("state after 80: %s", diff)
	}
	c := run("first", n, 0)
	if got := srv.Cursors(); got[len(got)-1] != 80 {
		t.Errorf("resumed with cursor %d, want 80", got[len(got)-1])
	}
	if c.Cursor() != n {
		t.Errorf("cursor %d, want %d", c.Cursor(), n)
	}
	if diff := diffStates(expectedState("first", n), dump(t, db)); diff != "[]" {
		t.Fatalf("state after %d: %s", n, diff)
	}
	// A second consumer in the same DB keeps its own cursor (it applies
	// the same counters again, so only the cursors are compared).
	run("second", 50, 7)
	if a, b := loadCursor(t, db, "first"), loadCursor(t, db, "second"); a != n || b != 50 {
		t.Errorf("cursors first=%d second=%d, want %d, 50", a, b, n)
	}
}

// A handler error in durable mode discards the whole pending batch: the
// committed state is exactly the events before the batch.
func TestDurableHandlerErrorDiscardsBatch(t *testing.T) {
	t.Parallel()
	const n = 100
	frames := identityFrames(t, n)
	srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	db := openDB(t, t.TempDir(), nil)
	defer db.Close()
	boom := errors.New("boom")
	h := &counterIndex{before: func(ev Event, b *pebble.Batch) error {
		if ev.Seq == 60 {
			_ = b.Set([]byte("c/garbage"), []byte("x"), nil)
			return boom
		}
		return nil
	}}
	c, err := New(durableConfig(srv.URL(), db, "x", h, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, t.Context(), c); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	k := loadCursor(t, db, "x")
	if k >= 60 || c.Cursor() != k {
		t.Fatalf("stored cursor %d, consumer cursor %d", k, c.Cursor())
	}
	if diff := diffStates(expectedState("x", k), dump(t, db)); diff != "[]" {
		t.Fatalf("state at cursor %d: %s", k, diff)
	}
}

func TestCheckpointCorrupt(t *testing.T) {
	t.Parallel()
	db := openDB(t, t.TempDir(), nil)
	defer db.Close()
	cp, err := NewCheckpoint(db, "c")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]byte{{1, 2, 3}, make([]byte, 8)} {
		if err := db.Set(CursorKey("c"), v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cp.Load(); !errors.Is(err, ErrCorruptCheckpoint) {
			t.Errorf("Load of %x = %v, want ErrCorruptCheckpoint", v, err)
		}
	}
	for _, name := range []string{"", "a\x00b", string(make([]byte, 200)), "\xff"} {
		if _, err := NewCheckpoint(db, name); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

// crashServer serves frames after the cursor and, on a third of the
// connections, drops after a random number of events.
func crashServer(t *testing.T, frames [][]byte, seed uint64) *fakeServer {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 2))
	return newFakeServer(t, func(c *conn) {
		mu.Lock()
		drop, k := rng.IntN(3) == 0, 1+rng.IntN(100)
		mu.Unlock()
		from := int(max(c.Cursor, 0))
		if drop {
			_ = c.sendFrom(frames, from, from+k)
			return
		}
		c.serveRest(frames)
	})
}

// THE CRASH TEST. A durable consumer with a counter-and-hash-chain index is
// stopped at 100 random points over one stream: by cancelling after a
// random number of events, by cancelling after a random delay, or by a
// handler failure after writing garbage into its batch (a crash mid-event);
// the server also drops connections at random. After every stop the DB is
// closed and reopened, and its content must be EXACTLY the state of events
// 1..cursor applied once; at the end it must equal one clean pass.
func TestCrashReplay(t *testing.T) {
	t.Parallel()
	const (
		n    = 5000 // more than 100 cuts of at most 40 events can use
		cuts = 100
		name = "crash"
	)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	frames := identityFrames(t, n)
	srv := crashServer(t, frames, seed)

	clean := func() map[string]string {
		db := openDB(t, t.TempDir(), nil)
		defer db.Close()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		c, err := New(durableConfig(srv.URL(), db, name, &counterIndex{last: n, cancel: cancel}, 0))
		if err != nil {
			t.Fatal(err)
		}
		if err := runConsumer(t, ctx, c); err != nil {
			t.Fatalf("clean pass: %v", err)
		}
		return dump(t, db)
	}()
	if diff := diffStates(expectedState(name, n), clean); diff != "[]" {
		t.Fatalf("clean pass state: %s", diff)
	}

	dir := t.TempDir()
	errCrash := errors.New("simulated crash")
	modes := map[string]int{}
	for i := 0; ; i++ {
		db := openDB(t, dir, nil)
		cursor := loadCursor(t, db, name)
		if diff := diffStates(expectedState(name, cursor), dump(t, db)); diff != "[]" {
			t.Fatalf("after cut %d (cursor %d): %s", i, cursor, diff)
		}
		if i == cuts || cursor == n {
			if cursor != n {
				// The final run, to the end of the stream.
				runCut(t, srv.URL(), db, name, &counterIndex{last: n}, 0, 0)
				cursor = loadCursor(t, db, name)
			}
			final := dump(t, db)
			db.Close()
			if diff := diffStates(clean, final); diff != "[]" {
				t.Fatalf("after %d cuts the state differs from a clean pass: %s", i, diff)
			}
			t.Logf("%d cuts (%v), final cursor %d", i, modes, cursor)
			if i < cuts {
				t.Errorf("the stream ended after %d cuts, want %d: lower the cut sizes", i, cuts)
			}
			return
		}
		h := &counterIndex{}
		maxBatch := []int{1, 5, 0}[rng.IntN(3)]
		left := n - cursor
		switch mode := rng.IntN(3); mode {
		case 0: // cancel after k events
			modes["count"]++
			h.last = cursor + min(1+rng.Int64N(30), left)
			runCut(t, srv.URL(), db, name, h, maxBatch, 0)
		case 1: // cancel after a random delay (or 40 events)
			modes["delay"]++
			h.last = cursor + min(40, left)
			runCut(t, srv.URL(), db, name, h, maxBatch, time.Duration(rng.Int64N(int64(3*time.Millisecond))))
		case 2: // die in the middle of an event
			modes["crash"]++
			at := cursor + min(1+rng.Int64N(30), left)
			h.before = func(ev Event, b *pebble.Batch) error {
				if ev.Seq == at {
					_ = b.Set([]byte("n"), []byte("garbage"), nil)
					return errCrash
				}
				return nil
			}
			if err := runCutErr(t, srv.URL(), db, name, h, maxBatch, 0); !errors.Is(err, errCrash) {
				t.Fatalf("cut %d: Run = %v, want the crash", i, err)
			}
		}
		db.Close()
	}
}

// runCut runs one durable consumer until h cancels (h.last) or, if after is
// positive, until that delay has passed; Run must return nil.
func runCut(t *testing.T, url string, db *pebble.DB, name string, h *counterIndex, maxBatch int, after time.Duration) {
	t.Helper()
	if err := runCutErr(t, url, db, name, h, maxBatch, after); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func runCutErr(t *testing.T, url string, db *pebble.DB, name string, h *counterIndex, maxBatch int, after time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.cancel = cancel
	if after > 0 {
		stop := time.AfterFunc(after, cancel)
		defer stop.Stop()
	}
	c, err := New(durableConfig(url, db, name, h, maxBatch))
	if err != nil {
		t.Fatal(err)
	}
	return runConsumer(t, ctx, c)
}

// Power loss: Pebble on a crashable in-memory FS, cloned at random moments
// inside the handler keeping only synced data (plus a random share of the
// unsynced). Every commit is synced, so the clone must hold exactly the
// state of the events up to the cursor the consumer had reached.
func TestPowerLossReplay(t *testing.T) {
	t.Parallel()
	const (
		n    = 3000 // more than 40 cuts of at most 60 events can use
		cuts = 40
		name = "power"
	)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	frames := identityFrames(t, n)
	srv := crashServer(t, frames, seed)
	fs := vfs.NewCrashableMem()
	const dir = "db"
	for i := 0; i < cuts; i++ {
		db := openDB(t, dir, fs)
		cursor := loadCursor(t, db, name)
		if diff := diffStates(expectedState(name, cursor), dump(t, db)); diff != "[]" {
			t.Fatalf("after power loss %d (cursor %d): %s", i, cursor, diff)
		}
		if cursor == n {
			db.Close()
			t.Fatalf("stream ended after %d power losses", i)
		}
		var (
			clone       *vfs.MemFS
			cursorAtCut int64
			c           *Consumer
		)
		at := cursor + min(1+rng.Int64N(60), n-cursor)
		unsynced := rng.IntN(101)
		cloneRNG := rand.New(rand.NewPCG(seed, uint64(i)))
		ctx, cancel := context.WithCancel(t.Context())
		h := &counterIndex{before: func(ev Event, _ *pebble.Batch) error {
			if ev.Seq == at {
				cursorAtCut = c.Cursor()
				clone = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: cloneRNG})
				cancel()
			}
			return nil
		}}
		var err error
		c, err = New(durableConfig(srv.URL(), db, name, h, []int{1, 5, 0}[rng.IntN(3)]))
		if err != nil {
			t.Fatal(err)
		}
		if err := runConsumer(t, ctx, c); err != nil {
			t.Fatalf("power loss %d: Run: %v", i, err)
		}
		cancel()
		db.Close()
		fs = clone
		db = openDB(t, dir, fs)
		if got := loadCursor(t, db, name); got != max(cursorAtCut, 0) {
			t.Fatalf("power loss %d: cursor after restart %d, consumer had committed %d", i, got, cursorAtCut)
		}
		db.Close()
	}
}
