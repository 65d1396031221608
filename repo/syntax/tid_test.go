package syntax

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestTIDEncodeDecode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		micros  int64
		clockID uint
		want    TID
	}{
		// The example from the TID spec / protocol notes.
		{1725911162329308, 0, "3l3qo2vxaaw22"},
		{0, 0, "2222222222222"},
		{0, 1, "2222222222223"},
		{0, MaxClockID, "22222222222zz"},
		{maxMicros, MaxClockID, "bzzzzzzzzzzzz"},
		{1, 0, "2222222222322"},
	}
	for _, c := range cases {
		got := NewTID(c.micros, c.clockID)
		if got != c.want {
			t.Errorf("NewTID(%d, %d) = %s, want %s", c.micros, c.clockID, got, c.want)
		}
		p, err := ParseTID(string(c.want))
		if err != nil {
			t.Fatalf("ParseTID(%s): %v", c.want, err)
		}
		if p.UnixMicro() != c.micros || p.ClockID() != c.clockID {
			t.Errorf("%s decodes to (%d, %d), want (%d, %d)", c.want, p.UnixMicro(), p.ClockID(), c.micros, c.clockID)
		}
		if int := p.Integer(); int != uint64(c.micros)<<10|uint64(c.clockID) {
			t.Errorf("%s Integer = %d", c.want, int)
		}
		if TIDFromInteger(p.Integer()) != p {
			t.Errorf("%s does not round-trip through Integer", c.want)
		}
	}
	ex := TID("3l3qo2vxaaw22")
	if got, want := ex.Time(), time.UnixMicro(1725911162329308).UTC(); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Time() = %v, want %v UTC", got, want)
	}
	if got := NewTIDFromTime(time.UnixMicro(1725911162329308), 0); got != ex {
		t.Errorf("NewTIDFromTime = %s, want %s", got, ex)
	}
}

func TestTIDClamping(t *testing.T) {
	t.Parallel()
	if got := NewTID(-5, 3); got.UnixMicro() != 0 || got.ClockID() != 3 {
		t.Errorf("negative time: got %s (%d, %d)", got, got.UnixMicro(), got.ClockID())
	}
	if got := NewTID(maxMicros+10, 0); got.UnixMicro() != maxMicros {
		t.Errorf("overflowing time not clamped: %d", got.UnixMicro())
	}
	if got := NewTID(7, MaxClockID+1+5); got.ClockID() != 5 {
		t.Errorf("clock id not masked: %d", got.ClockID())
	}
	// The spec says the top bit is 0, but its syntax (first character up to
	// 'j') admits it; such TIDs must still round-trip exactly.
	top, err := ParseTID("jzzzzzzzzzzzz")
	if err != nil || top.Integer() != 1<<64-1 || TIDFromInteger(top.Integer()) != top {
		t.Errorf("all-ones TID: %d %v", top.Integer(), err)
	}
	// Accessors on an unvalidated value are zero, not a panic.
	for _, bad := range []TID{"", "short", "!!!!!!!!!!!!!"} {
		if bad.Integer() != 0 || !bad.Time().Equal(time.UnixMicro(0)) {
			t.Errorf("%q: want zero accessors", bad)
		}
	}
}

// String order of TIDs must equal numeric order: revs are compared as
// strings across the whole system.
func TestTIDSortOrder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]uint64, 2000)
	for i := range vals {
		vals[i] = r.Uint64() >> 1
		if i%4 == 0 { // cluster some values to exercise low digits
			vals[i] = vals[i-i%4] ^ uint64(r.IntN(64))
		}
	}
	for i := 1; i < len(vals); i++ {
		a, b := TIDFromInteger(vals[i-1]), TIDFromInteger(vals[i])
		if (a < b) != (vals[i-1] < vals[i]) || (a == b) != (vals[i-1] == vals[i]) {
			t.Fatalf("order mismatch: %d vs %d encode to %s vs %s", vals[i-1], vals[i], a, b)
		}
	}
}

func TestParseTIDErrors(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "3l3qo2vxaaw2", "3l3qo2vxaaw222", "kl3qo2vxaaw22", "3l3qo2vxaaw21", "3L3QO2VXAAW22", "3l3qo2vxaaw2\x00"} {
		if _, err := ParseTID(s); !errors.Is(err, ErrInvalidTID) {
			t.Errorf("ParseTID(%q) err = %v, want ErrInvalidTID", s, err)
		}
	}
}

// fakeWall is a settable wall clock for Clock tests.
type fakeWall struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeWall) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeWall) set(t time.Time) {
	f.mu.Lock()
	f.t = t
	f.mu.Unlock()
}

func TestClockSameMicrosecondAndStepBack(t *testing.T) {
	t.Parallel()
	base := time.UnixMicro(1725911162329308)
	wall := &fakeWall{t: base}
	c := NewClock(7)
	c.now = wall.now

	var got []TID
	for range 100 { // frozen clock: all calls in one microsecond
		got = append(got, c.Next())
	}
	wall.set(base.Add(-time.Hour)) // NTP steps the clock back
	for range 100 {
		got = append(got, c.Next())
	}
	wall.set(base.Add(time.Second)) // and forward again
	got = append(got, c.Next())

	for i, tid := range got {
		if _, err := ParseTID(string(tid)); err != nil {
			t.Fatalf("Next #%d produced invalid %s: %v", i, tid, err)
		}
		if tid.ClockID() != 7 {
			t.Fatalf("Next #%d clock id %d, want 7", i, tid.ClockID())
		}
		if i > 0 && tid <= got[i-1] {
			t.Fatalf("Next #%d = %s not after %s", i, tid, got[i-1])
		}
	}
	if first := got[0].UnixMicro(); first != base.UnixMicro() {
		t.Errorf("first TID time %d, want wall time %d", first, base.UnixMicro())
	}
	if last := got[len(got)-1].UnixMicro(); last != base.Add(time.Second).UnixMicro() {
		t.Errorf("clock did not follow the wall clock forward: %d", last)
	}
}

func TestClockObserve(t *testing.T) {
	t.Parallel()
	base := time.UnixMicro(1_000_000)
	c := NewClock(1)
	c.now = (&fakeWall{t: base}).now
	ahead := NewTID(base.Add(time.Minute).UnixMicro(), 900)
	c.Observe(ahead)
	if next := c.Next(); next <= ahead {
		t.Errorf("Next after Observe = %s, want > %s", next, ahead)
	}
	c.Observe(NewTID(0, 0)) // an old TID must not move the clock back
	a, b := c.Next(), c.Next()
	if !(ahead < a && a < b) {
		t.Errorf("order broken after observing an old TID: %s %s %s", ahead, a, b)
	}
}

// Many goroutines share one Clock: every TID must be unique and each
// goroutine must see its own TIDs strictly increase. Run under -race.
func TestClockConcurrent(t *testing.T) {
	t.Parallel()
	c := NewRandomClock()
	if c.ClockID() > MaxClockID {
		t.Fatalf("random clock id %d out of range", c.ClockID())
	}
	const workers, perWorker = 8, 2000
	results := make([][]TID, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			out := make([]TID, perWorker)
			for i := range out {
				out[i] = c.Next()
			}
			results[w] = out
		})
	}
	wg.Wait()
	var all []TID
	for w, out := range results {
		for i := 1; i < len(out); i++ {
			if out[i] <= out[i-1] {
				t.Fatalf("worker %d: %s not after %s", w, out[i], out[i-1])
			}
		}
		all = append(all, out...)
	}
	slices.Sort(all)
	if n := len(slices.Compact(all)); n != workers*perWorker {
		t.Fatalf("%d unique TIDs out of %d", n, workers*perWorker)
	}
}
