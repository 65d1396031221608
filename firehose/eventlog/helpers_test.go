package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// testEntry encodes its seq and time into the frame, so a test can check
// that every frame was encoded for the seq it is stored under.
type testEntry struct {
	payload []byte
	fail    error
}

func (e testEntry) Frame(seq int64, now time.Time) ([]byte, error) {
	if e.fail != nil {
		return nil, e.fail
	}
	f := make([]byte, 16, 16+len(e.payload))
	binary.BigEndian.PutUint64(f, uint64(seq))
	binary.BigEndian.PutUint64(f[8:], uint64(now.UnixNano()))
	return append(f, e.payload...), nil
}

func entry(size int) testEntry {
	return testEntry{payload: bytes.Repeat([]byte{'x'}, size)}
}

// checkEvent verifies that ev's frame was encoded for ev's seq and time.
func checkEvent(t *testing.T, ev Event) {
	t.Helper()
	if len(ev.Frame) < 16 {
		t.Fatalf("event %d: frame of %d bytes", ev.Seq, len(ev.Frame))
	}
	if got := int64(binary.BigEndian.Uint64(ev.Frame)); got != ev.Seq {
		t.Fatalf("event %d carries a frame encoded for seq %d", ev.Seq, got)
	}
	if got := int64(binary.BigEndian.Uint64(ev.Frame[8:])); got != ev.Time.UnixNano() {
		t.Fatalf("event %d: frame time %d, event time %d", ev.Seq, got, ev.Time.UnixNano())
	}
}

// fakeClock is a settable clock for retention tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// openLog opens a log in dir (a fresh temp dir when empty) and closes it at
// the end of the test.
func openLog(t testing.TB, cfg Config) *Log {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// startRun runs l until the returned stop is called (or the test ends);
// stop returns Run's error.
func startRun(t testing.TB, l *Log) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	// Registered after openLog's Cleanup, so it runs before Close.
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return stop
}

// appendN appends n entries of size bytes one by one and returns the events.
func appendN(t testing.TB, l *Log, n, size int) []Event {
	t.Helper()
	out := make([]Event, 0, n)
	for range n {
		ev, err := l.Append(context.Background(), entry(size))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

// readAll reads every event after cursor in reads of at most limit.
func readAll(t testing.TB, l *Log, cursor int64, limit int) []Event {
	t.Helper()
	var out []Event
	for {
		got, err := l.ReadFrom(cursor, nil, limit)
		if err != nil {
			t.Fatalf("ReadFrom(%d): %v", cursor, err)
		}
		if len(got) == 0 {
			return out
		}
		if len(got) > limit {
			t.Fatalf("ReadFrom(%d, limit %d) returned %d events", cursor, limit, len(got))
		}
		out = append(out, got...)
		cursor = got[len(got)-1].Seq
	}
}

// sameEvents reports the first difference between two event lists.
func sameEvents(got, want []Event) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || !g.Time.Equal(w.Time) || !bytes.Equal(g.Frame, w.Frame) {
			return fmt.Errorf("event %d: got seq %d time %v (%d bytes), want seq %d time %v (%d bytes)",
				i, g.Seq, g.Time, len(g.Frame), w.Seq, w.Time, len(w.Frame))
		}
	}
	return nil
}

func seqs(evs []Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

var errBoom = errors.New("boom")
