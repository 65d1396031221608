package eventlog

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// appendEvery appends n events of size bytes, advancing clock by step before
// each.
func appendEvery(t *testing.T, l *Log, clock *fakeClock, n, size int, step time.Duration) []Event {
	t.Helper()
	var out []Event
	for range n {
		clock.Advance(step)
		out = append(out, appendN(t, l, 1, size)...)
	}
	return out
}

// quietTrimmer keeps Run's own trimmer out of the way so that the test
// drives Trim.
const quietTrimmer = 24 * time.Hour

func TestRetentionByAge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := newFakeClock()
	reg := prometheus.NewRegistry()
	cfg := Config{Dir: dir, NoSync: true, Now: clock.Now, Retention: time.Hour, TrimInterval: quietTrimmer}
	cfg.Metrics = NewMetrics(reg)
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := startRun(t, l)
	// Event i (1-based) is appended at t0 + i*30s: checkpoints every minute,
	// so cuts fall inside checkpoint intervals.
	evs := appendEvery(t, l, clock, 120, 20, 30*time.Second)

	// Cutoff t0+20m15s: events 1..40 (at most t0+20m) expire, 41 (t0+20m30s) stays.
	clock.Advance(20*time.Minute + 15*time.Second)
	n, err := l.Trim(t.Context())
	if err != nil || n != 40 {
		t.Fatalf("Trim: %d, %v; want 40", n, err)
	}
	if l.Oldest() != 41 || l.Head() != 120 {
		t.Fatalf("Oldest %d Head %d, want 41 and 120", l.Oldest(), l.Head())
	}
	for _, cursor := range []int64{0, 1, 39} {
		if _, err := l.ReadFrom(cursor, nil, 10); !errors.Is(err, ErrTrimmed) {
			t.Fatalf("ReadFrom(%d) after trim: %v, want ErrTrimmed", cursor, err)
		}
	}
	if err := sameEvents(readAll(t, l, l.Oldest()-1, 7), evs[40:]); err != nil {
		t.Fatalf("reading from Oldest()-1: %v", err)
	}
	s := l.Stats()
	if s.Events != 80 || s.Oldest != 41 || !s.OldestTime.Equal(evs[40].Time) || s.TailEvents != 80 {
		t.Fatalf("Stats after trim: %+v", s)
	}
	if got := counter(t, reg, "conflux_eventlog_trimmed_events_total"); got != 40 {
		t.Fatalf("trimmed counter %v", got)
	}
	if got := gauge(t, reg, "conflux_eventlog_oldest_seq"); got != 41 {
		t.Fatalf("oldest gauge %v", got)
	}
	l.tail.dropBelow(1 << 40) // force the next reads to Pebble
	if stored, err := l.readStore(1, 40, nil, 100); err != nil || len(stored) != 0 {
		t.Fatalf("trimmed events still stored: %v, %v", seqs(stored), err)
	}
	if err := sameEvents(readAll(t, l, 40, 1000), evs[40:]); err != nil {
		t.Fatal(err)
	}

	if n, err := l.Trim(t.Context()); err != nil || n != 0 {
		t.Fatalf("second Trim: %d, %v; want nothing", n, err)
	}

	// Everything expires: the log is empty but keeps its head.
	clock.Advance(2 * time.Hour)
	if n, err := l.Trim(t.Context()); err != nil || n != 80 {
		t.Fatalf("Trim all: %d, %v; want 80", n, err)
	}
	if l.Oldest() != 121 || l.Head() != 120 || !l.OldestTime().IsZero() {
		t.Fatalf("after trimming all: Oldest %d Head %d OldestTime %v", l.Oldest(), l.Head(), l.OldestTime())
	}
	if got, err := l.ReadFrom(120, nil, 10); err != nil || len(got) != 0 {
		t.Fatalf("ReadFrom(head) on an emptied log: %v, %v", seqs(got), err)
	}
	if _, err := l.ReadFrom(119, nil, 10); !errors.Is(err, ErrTrimmed) {
		t.Fatalf("ReadFrom(119) on an emptied log: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l2 := openLog(t, Config{Dir: dir, NoSync: true, Now: clock.Now, TrimInterval: quietTrimmer})
	if l2.Head() != 120 || l2.Oldest() != 121 {
		t.Fatalf("reopened emptied log: Head %d Oldest %d, want 120 and 121", l2.Head(), l2.Oldest())
	}
	startRun(t, l2)
	ev := appendN(t, l2, 1, 1)[0]
	if ev.Seq != 121 {
		t.Fatalf("append after trimming all: seq %d, want 121", ev.Seq)
	}
	if got, err := l2.ReadFrom(120, nil, 10); err != nil || len(got) != 1 || got[0].Seq != 121 {
		t.Fatalf("ReadFrom(120): %v, %v", seqs(got), err)
	}
}

func TestRetentionByBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := newFakeClock() // never advanced: only MaxBytes trims
	cfg := Config{Dir: dir, NoSync: true, Now: clock.Now, MaxBytes: 1050, TrimInterval: quietTrimmer}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.indexBytes = 300 // a checkpoint every 3 events of 100 bytes
	stop := startRun(t, l)
	evs := appendN(t, l, 50, 84) // 100-byte frames

	if n, err := l.Trim(t.Context()); err != nil || n != 40 {
		t.Fatalf("Trim: %d, %v; want 40", n, err)
	}
	if s := l.Stats(); s.Bytes != 1000 || s.Events != 10 || s.Oldest != 41 {
		t.Fatalf("Stats %+v", s)
	}
	if err := sameEvents(readAll(t, l, 40, 4), evs[40:]); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, appendN(t, l, 5, 84)...)
	if n, err := l.Trim(t.Context()); err != nil || n != 5 {
		t.Fatalf("second Trim: %d, %v; want 5", n, err)
	}
	if l.Oldest() != 46 {
		t.Fatalf("Oldest %d, want 46", l.Oldest())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen (the index must load and agree with the events), then a limit
	// below one frame trims everything.
	cfg.MaxBytes = 50
	l2 := openLog(t, cfg)
	if s := l2.Stats(); s.Bytes != 1000 || s.Oldest != 46 || s.Head != 55 {
		t.Fatalf("reopened Stats %+v", s)
	}
	if err := sameEvents(readAll(t, l2, 45, 3), evs[45:]); err != nil {
		t.Fatal(err)
	}
	startRun(t, l2)
	if n, err := l2.Trim(t.Context()); err != nil || n != 10 {
		t.Fatalf("Trim below one frame: %d, %v; want 10", n, err)
	}
	if l2.Oldest() != 56 || l2.Stats().Bytes != 0 {
		t.Fatalf("Oldest %d Stats %+v", l2.Oldest(), l2.Stats())
	}
}

// Run's trimmer trims on its own.
func TestBackgroundTrimmer(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := openLog(t, Config{NoSync: true, Now: clock.Now, Retention: time.Hour, TrimInterval: time.Millisecond})
	startRun(t, l)
	appendEvery(t, l, clock, 10, 1, time.Minute)
	clock.Advance(55*time.Minute + 30*time.Second) // now t0+65m30s: events 1..5 (t0+1m..t0+5m) expire
	for l.Oldest() < 6 {
		time.Sleep(time.Millisecond)
	}
	if l.Oldest() != 6 {
		t.Fatalf("Oldest %d, want 6", l.Oldest())
	}
}

// A plan that wanted to trim everything, applied after more appends landed,
// must keep the new events.
func TestTrimAllRacingAppends(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := openLog(t, Config{NoSync: true, Now: clock.Now, Retention: time.Hour, TrimInterval: quietTrimmer})
	startRun(t, l)
	apply := func(p trimPlan) int64 {
		t.Helper()
		tr := &trimRequest{plan: p, done: make(chan struct{})}
		if err := l.q.pushTrim(tr); err != nil {
			t.Fatal(err)
		}
		<-tr.done
		if tr.err != nil {
			t.Fatal(tr.err)
		}
		return tr.trimmed
	}

	appendN(t, l, 5, 1) // seqs 1..5, one checkpoint (1)
	plan, ok, err := l.planTrim(clock.Now().Add(2 * time.Hour))
	if err != nil || !ok || !plan.all || plan.head != 5 {
		t.Fatalf("plan %+v %v %v, want all through 5", plan, ok, err)
	}
	appendN(t, l, 2, 1) // same minute: no new checkpoint
	if n := apply(plan); n != 0 || l.Oldest() != 1 {
		t.Fatalf("stale trim-all without a later checkpoint: trimmed %d, Oldest %d", n, l.Oldest())
	}

	plan, ok, err = l.planTrim(clock.Now().Add(2 * time.Hour))
	if err != nil || !ok || !plan.all || plan.head != 7 {
		t.Fatalf("plan %+v %v %v, want all through 7", plan, ok, err)
	}
	clock.Advance(time.Minute)
	appendN(t, l, 3, 1) // seqs 8..10, new minute: checkpoint at 8
	if n := apply(plan); n != 7 || l.Oldest() != 8 {
		t.Fatalf("stale trim-all: trimmed %d, Oldest %d; want 7 and 8", n, l.Oldest())
	}
	if got := readAll(t, l, 7, 10); len(got) != 3 || got[0].Seq != 8 {
		t.Fatalf("kept %v", seqs(got))
	}
}

// Trims race appends and readers (some reading Pebble while it deletes):
// a read either fails with ErrTrimmed or returns the seqs right after its
// cursor with no hole.
func TestTrimRacingReaders(t *testing.T) {
	t.Parallel()
	const total = 20000
	l := openLog(t, Config{NoSync: true, MaxBytes: 40 << 10, TailBytes: 16 << 10, TrimInterval: time.Millisecond})
	l.indexBytes = 2 << 10
	startRun(t, l)

	readErr := make(chan error, 4)
	for range 4 {
		go func() {
			var cursor int64
			for cursor < total {
				changed := l.Changed()
				evs, err := l.ReadFrom(cursor, nil, 100)
				if errors.Is(err, ErrTrimmed) {
					cursor = max(cursor, l.Oldest()-1)
					continue
				}
				if err != nil {
					readErr <- err
					return
				}
				for i, ev := range evs {
					if ev.Seq != cursor+1+int64(i) {
						readErr <- fmt.Errorf("ReadFrom(%d) returned seq %d at %d", cursor, ev.Seq, i)
						return
					}
				}
				if len(evs) == 0 {
					<-changed
					continue
				}
				cursor = evs[len(evs)-1].Seq
			}
			readErr <- nil
		}()
	}
	appendN(t, l, total, 100)
	for range 4 {
		if err := <-readErr; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Trim(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := l.Stats()
	if s.Oldest <= 1 || s.Bytes > 40<<10 || s.Events != s.Head-s.Oldest+1 {
		t.Fatalf("Stats after racing trims: %+v", s)
	}
	if got := readAll(t, l, s.Oldest-1, 1000); int64(len(got)) != s.Events {
		t.Fatalf("read %d retained events, Stats says %d", len(got), s.Events)
	}
}

// A trim that lands between ReadFrom's check and its store read must turn
// the read into ErrTrimmed, not a result with a hole.
func TestTrimDuringStoreRead(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := openLog(t, Config{NoSync: true, Now: clock.Now, Retention: time.Hour, TailBytes: 1, TrimInterval: quietTrimmer})
	startRun(t, l)
	appendN(t, l, 10, 10)
	clock.Advance(30 * time.Minute)
	want := appendN(t, l, 10, 10)

	var once sync.Once
	l.beforeStoreRead = func() {
		once.Do(func() {
			clock.Advance(45 * time.Minute) // events 1..10 expire
			if n, err := l.Trim(t.Context()); err != nil || n != 10 {
				t.Errorf("Trim in the read window: %d, %v", n, err)
			}
		})
	}
	got, err := l.ReadFrom(0, nil, 100)
	if !errors.Is(err, ErrTrimmed) || len(got) != 0 {
		t.Fatalf("ReadFrom raced by a trim: %v, %v; want ErrTrimmed", seqs(got), err)
	}
	if err := sameEvents(readAll(t, l, l.Oldest()-1, 100), want); err != nil {
		t.Fatal(err)
	}
}

// A scan that starts at a checkpoint trimmed since its snapshot must not
// produce a plan (cutting at the next checkpoint, or everything, would drop
// events that are not expired).
func TestScanFromTrimmedCheckpoint(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := openLog(t, Config{NoSync: true, Now: clock.Now, Retention: time.Hour, TrimInterval: quietTrimmer})
	startRun(t, l)
	appendEvery(t, l, clock, 10, 1, time.Minute)
	l.mu.Lock()
	stale := l.mu.index[0]
	l.mu.Unlock()
	clock.Advance(55*time.Minute + 30*time.Second) // events 1..5 expire
	if n, err := l.Trim(t.Context()); err != nil || n != 5 {
		t.Fatalf("Trim: %d, %v", n, err)
	}
	never := func(int64, int64) bool { return false }
	if _, _, err := l.scanCut(stale, l.Head(), never); !errors.Is(err, errTrimRaced) {
		t.Fatalf("scan from a trimmed checkpoint: %v, want errTrimRaced", err)
	}
	// The same absence above the horizon is corruption.
	ghost := indexEntry{seq: 7, time: stale.time}
	if _, _, err := l.scanCut(ghost, l.Head(), never); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("scan from a checkpoint that does not match its event: %v, want ErrCorrupt", err)
	}
}
