package eventlog

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestAppendReadOrderAndBounds(t *testing.T) {
	t.Parallel()
	l := openLog(t, Config{NoSync: true})
	if l.Head() != 0 || l.Oldest() != 1 {
		t.Fatalf("empty log: Head %d Oldest %d, want 0 and 1", l.Head(), l.Oldest())
	}
	if got, err := l.ReadFrom(0, nil, 10); err != nil || len(got) != 0 {
		t.Fatalf("ReadFrom on empty log: %v, %v", seqs(got), err)
	}
	startRun(t, l)
	want := appendN(t, l, 30, 10)
	batch, err := l.AppendBatch(t.Context(), []Entry{entry(1), entry(2), entry(3)})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, batch...)
	for i, ev := range want {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		checkEvent(t, ev)
	}
	if batch[0].Time != batch[2].Time {
		t.Errorf("one batch, two times: %v %v", batch[0].Time, batch[2].Time)
	}
	if l.Head() != 33 || l.Oldest() != 1 {
		t.Fatalf("Head %d Oldest %d, want 33 and 1", l.Head(), l.Oldest())
	}

	cases := []struct {
		cursor int64
		limit  int
		first  int64 // 0: none
		n      int
	}{
		{0, 100, 1, 33},
		{0, 5, 1, 5},
		{10, 5, 11, 5},
		{31, 100, 32, 2},
		{32, 1, 33, 1},
		{33, 100, 0, 0}, // caught up
		{50, 100, 0, 0}, // ahead of head: the caller's FutureCursor
		{0, 0, 0, 0},
	}
	for _, c := range cases {
		prefix := []Event{{Seq: -7}}
		got, err := l.ReadFrom(c.cursor, prefix, c.limit)
		if err != nil {
			t.Fatalf("ReadFrom(%d, %d): %v", c.cursor, c.limit, err)
		}
		if got[0].Seq != -7 {
			t.Fatalf("ReadFrom(%d, %d) clobbered dst", c.cursor, c.limit)
		}
		got = got[1:]
		if len(got) != c.n {
			t.Fatalf("ReadFrom(%d, %d): %d events %v, want %d", c.cursor, c.limit, len(got), seqs(got), c.n)
		}
		if c.n > 0 {
			if err := sameEvents(got, want[c.first-1:c.first-1+int64(c.n)]); err != nil {
				t.Fatalf("ReadFrom(%d, %d): %v", c.cursor, c.limit, err)
			}
		}
	}
	if _, err := l.ReadFrom(-1, nil, 10); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("negative cursor: %v, want ErrBadCursor", err)
	}
	if got, err := l.AppendBatch(t.Context(), nil); err != nil || got != nil {
		t.Fatalf("empty AppendBatch: %v, %v", got, err)
	}
	s := l.Stats()
	if s.Head != 33 || s.Oldest != 1 || s.Events != 33 || s.Bytes != 33*16+30*10+6 || s.TailEvents != 33 {
		t.Fatalf("Stats %+v", s)
	}
	if !s.OldestTime.Equal(want[0].Time) || !l.OldestTime().Equal(want[0].Time) || !s.HeadTime.Equal(want[32].Time) {
		t.Fatalf("Stats times %+v, want oldest %v head %v", s, want[0].Time, want[32].Time)
	}
}

// Durable path with real fsync: concurrent appenders, then a reopen reads the
// same events back from Pebble.
func TestSyncedAppendSurvivesReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var mu sync.Mutex
	var want []Event
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				ev, err := l.Append(t.Context(), entry(100))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want = append(want, ev)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(a, b Event) int { return int(a.Seq - b.Seq) })

	l2 := openLog(t, Config{Dir: dir})
	if l2.Head() != 20 {
		t.Fatalf("reopened Head %d, want 20", l2.Head())
	}
	if err := sameEvents(readAll(t, l2, 0, 7), want); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentAppendersGapFree(t *testing.T) {
	t.Parallel()
	const writers, perWriter = 8, 5000
	l := openLog(t, Config{NoSync: true, TailBytes: 200 << 10}) // tail smaller than the run
	startRun(t, l)

	// Readers follow the log live while it is written.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var readers sync.WaitGroup
	readerErr := make(chan error, 3)
	for range 3 {
		readers.Go(func() { readerErr <- follow(ctx, l, writers*perWriter) })
	}

	got := make([][]Event, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				var ev Event
				var err error
				if i%10 == 0 {
					var evs []Event
					evs, err = l.AppendBatch(t.Context(), []Entry{entry(w)})
					if err == nil {
						ev = evs[0]
					}
				} else {
					ev, err = l.Append(t.Context(), entry(w))
				}
				if err != nil {
					t.Error(err)
					return
				}
				got[w] = append(got[w], ev)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		cancel() // the readers would wait for events that never come
	}
	readers.Wait()
	close(readerErr)
	for err := range readerErr {
		if err != nil {
			t.Fatal(err)
		}
	}

	seen := make(map[int64]bool)
	for w, evs := range got {
		for i, ev := range evs {
			if i > 0 && ev.Seq <= evs[i-1].Seq {
				t.Fatalf("writer %d: seq %d after %d", w, ev.Seq, evs[i-1].Seq)
			}
			if seen[ev.Seq] {
				t.Fatalf("seq %d handed out twice", ev.Seq)
			}
			seen[ev.Seq] = true
		}
	}
	for s := int64(1); s <= writers*perWriter; s++ {
		if !seen[s] {
			t.Fatalf("seq %d missing", s)
		}
	}
	if l.Head() != writers*perWriter {
		t.Fatalf("Head %d", l.Head())
	}
	all := readAll(t, l, 0, 1000)
	if len(all) != writers*perWriter {
		t.Fatalf("read back %d events", len(all))
	}
	for i, ev := range all {
		if ev.Seq != int64(i+1) {
			t.Fatalf("read back seq %d at %d", ev.Seq, i)
		}
		checkEvent(t, ev)
	}
}

// follow reads the log live until it has read n events, parking on Changed,
// and checks that every read is gap-free and never beyond Head.
func follow(ctx context.Context, l *Log, n int64) error {
	var cursor int64
	buf := make([]Event, 0, 256)
	for cursor < n {
		changed := l.Changed()
		evs, err := l.ReadFrom(cursor, buf[:0], 256)
		if err != nil {
			return err
		}
		head := l.Head()
		for _, ev := range evs {
			if ev.Seq != cursor+1 {
				return errors.New("reader saw a gap or a duplicate")
			}
			if ev.Seq > head {
				return errors.New("reader saw a seq above Head")
			}
			cursor = ev.Seq
		}
		if len(evs) == 0 {
			select {
			case <-changed:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

func TestReopenContinuesSeq(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	session := func(cfg Config, n int) []Event {
		cfg.Dir, cfg.NoSync = dir, true
		l, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		evs := appendN(t, l, n, 5)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return evs
	}
	a := session(Config{}, 10)
	b := session(Config{}, 2)
	if b[0].Seq != 11 {
		t.Fatalf("after reopen first seq %d, want 11", b[0].Seq)
	}
	c := session(Config{InitialSeq: 100}, 2)
	if c[0].Seq != 100 || c[1].Seq != 101 {
		t.Fatalf("floor 100: seqs %v", seqs(c))
	}
	d := session(Config{InitialSeq: 50}, 1) // below the stored head: ignored
	if d[0].Seq != 102 {
		t.Fatalf("floor below head: seq %d, want 102", d[0].Seq)
	}

	l := openLog(t, Config{Dir: dir})
	if l.Head() != 102 || l.Oldest() != 1 {
		t.Fatalf("Head %d Oldest %d", l.Head(), l.Oldest())
	}
	want := slices.Concat(a, b, c, d)
	if err := sameEvents(readAll(t, l, 0, 3), want); err != nil {
		t.Fatal(err)
	}
	// A cursor inside the jump reads on from the next existing seq.
	got, err := l.ReadFrom(50, nil, 10)
	if err != nil || len(got) != 3 || got[0].Seq != 100 {
		t.Fatalf("ReadFrom(50): %v, %v", seqs(got), err)
	}
}

func TestInitialSeqOnEmptyLog(t *testing.T) {
	t.Parallel()
	l := openLog(t, Config{NoSync: true, InitialSeq: 1000})
	if l.Head() != 0 || l.Oldest() != 1 {
		t.Fatalf("Head %d Oldest %d", l.Head(), l.Oldest())
	}
	startRun(t, l)
	evs := appendN(t, l, 3, 1)
	if evs[0].Seq != 1000 || l.Head() != 1002 {
		t.Fatalf("seqs %v Head %d", seqs(evs), l.Head())
	}
	if got := readAll(t, l, 0, 10); len(got) != 3 || got[0].Seq != 1000 {
		t.Fatalf("read %v", seqs(got))
	}
}

func TestChangedWakesWaiters(t *testing.T) {
	t.Parallel()
	l := openLog(t, Config{NoSync: true})
	stop := startRun(t, l)
	ch := l.Changed()
	select {
	case <-ch:
		t.Fatal("Changed closed before anything was appended")
	default:
	}
	woke := make(chan int64)
	for range 3 {
		go func() {
			<-ch
			woke <- l.Head()
		}()
	}
	appendN(t, l, 1, 1)
	for range 3 {
		if h := <-woke; h < 1 {
			t.Fatalf("woken with Head %d", h)
		}
	}
	next := l.Changed()
	select {
	case <-next:
		t.Fatal("fresh Changed channel already closed")
	default:
	}
	// Stopping Run wakes parked readers too.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	<-next
}

// Appends queued before Run starts are committed by its first group: one
// batch, one fsync.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	l := openLog(t, Config{Metrics: NewMetrics(reg)})
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := l.Append(t.Context(), entry(10)); err != nil {
				t.Error(err)
			}
		})
	}
	for queued(l) < n {
		time.Sleep(time.Millisecond)
	}
	startRun(t, l)
	wg.Wait()
	h := histogram(t, reg, "conflux_eventlog_batch_events")
	if h.GetSampleCount() != 1 || h.GetSampleSum() != n {
		t.Fatalf("%d commits carrying %v events, want 1 commit of %d", h.GetSampleCount(), h.GetSampleSum(), n)
	}
	if got := gauge(t, reg, "conflux_eventlog_head_seq"); got != n {
		t.Fatalf("head gauge %v", got)
	}
	if got := counter(t, reg, "conflux_eventlog_appends_total"); got != n {
		t.Fatalf("appends counter %v", got)
	}
}

func queued(l *Log) int {
	l.q.mu.Lock()
	defer l.q.mu.Unlock()
	return len(l.q.reqs)
}

func TestFrameErrorFailsOnlyItsAppend(t *testing.T) {
	t.Parallel()
	l := openLog(t, Config{NoSync: true})
	startRun(t, l)
	appendN(t, l, 2, 1)
	if _, err := l.Append(t.Context(), testEntry{fail: errBoom}); !errors.Is(err, errBoom) {
		t.Fatalf("Append of a failing entry: %v", err)
	}
	_, err := l.AppendBatch(t.Context(), []Entry{entry(1), testEntry{fail: errBoom}, entry(1)})
	if !errors.Is(err, errBoom) {
		t.Fatalf("AppendBatch with a failing entry: %v", err)
	}
	if _, err := l.Append(t.Context(), nil); err == nil {
		t.Fatal("nil entry appended")
	}
	ev := appendN(t, l, 1, 1)[0]
	if ev.Seq != 3 {
		t.Fatalf("failed appends consumed seqs: next is %d, want 3", ev.Seq)
	}
	if got := readAll(t, l, 0, 10); len(got) != 3 {
		t.Fatalf("stored %v", seqs(got))
	}
}

// Run stops with appenders still hammering it: each Append either returns a
// durable event or an error, never hangs, and exactly the acknowledged events
// are in the store.
func TestRunStopsWithPendingAppends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := Open(Config{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()

	var mu sync.Mutex
	acked := make(map[int64]Event)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				ev, err := l.Append(t.Context(), entry(50))
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("Append: %v", err)
					}
					return
				}
				mu.Lock()
				acked[ev.Seq] = ev
				mu.Unlock()
			}
		})
	}
	for l.Head() < 500 {
		<-l.Changed()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	wg.Wait() // every appender got an answer
	if _, err := l.Append(t.Context(), entry(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Run: %v", err)
	}
	if err := l.Run(t.Context()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
	head := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l2 := openLog(t, Config{Dir: dir})
	if l2.Head() != head {
		t.Fatalf("reopened Head %d, want %d", l2.Head(), head)
	}
	stored := readAll(t, l2, 0, 1000)
	if len(stored) != len(acked) {
		t.Fatalf("%d events stored, %d acknowledged", len(stored), len(acked))
	}
	for _, ev := range stored {
		a, ok := acked[ev.Seq]
		if !ok {
			t.Fatalf("event %d stored but never acknowledged", ev.Seq)
		}
		if err := sameEvents([]Event{ev}, []Event{a}); err != nil {
			t.Fatal(err)
		}
	}
}

// An appender that gives up before the committer took its entry gets the
// context's error, and the entry is not appended.
func TestCanceledAppendIsNotAppended(t *testing.T) {
	t.Parallel()
	l := openLog(t, Config{NoSync: true})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := l.Append(ctx, entry(1))
		errc <- err
	}()
	for queued(l) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Append: %v", err)
	}
	if _, err := l.Append(ctx, entry(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a done context: %v", err)
	}
	startRun(t, l)
	ev := appendN(t, l, 1, 1)[0]
	if ev.Seq != 1 {
		t.Fatalf("canceled append took seq 1: next is %d", ev.Seq)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	if _, err := Open(Config{}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
	if _, err := Open(Config{Dir: t.TempDir(), Retention: -time.Hour}); err == nil {
		t.Fatal("Open with negative retention succeeded")
	}

	// Appends waiting for a Run that never comes fail on Close.
	l, err := Open(Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := l.Append(context.Background(), entry(1))
		errc <- err
	}()
	for queued(l) < 1 {
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending Append on Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Run(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if _, err := l.ReadFrom(0, nil, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadFrom after Close: %v", err)
	}

	// Close while Run is active is refused.
	l2 := openLog(t, Config{NoSync: true})
	stop := startRun(t, l2)
	appendN(t, l2, 1, 1) // Run is certainly running now
	if err := l2.Close(); !errors.Is(err, ErrRunning) {
		t.Fatalf("Close during Run: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func histogram(t testing.TB, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	return metric(t, reg, name).GetHistogram()
}

func gauge(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return metric(t, reg, name).GetGauge().GetValue()
}

func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return metric(t, reg, name).GetCounter().GetValue()
}

func metric(t testing.TB, reg *prometheus.Registry, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0]
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}
