package eventlog

import (
	"testing"
)

// With a tail that holds only the last 10 events, reads that start in
// Pebble and run into the tail see one seamless sequence.
func TestReadAcrossStoreAndTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir, NoSync: true, TailBytes: 10 * (100 + tailEventOverhead)})
	startRun(t, l)
	want := appendN(t, l, 100, 84) // 100-byte frames
	if s := l.Stats(); s.TailEvents != 10 || s.TailBytes != 10*(100+tailEventOverhead) {
		t.Fatalf("tail holds %d events, %d bytes; want 10", s.TailEvents, s.TailBytes)
	}
	for cursor := int64(0); cursor <= 100; cursor++ {
		for _, limit := range []int{1, 7, 95, 1000} {
			got := readAll(t, l, cursor, limit)
			if err := sameEvents(got, want[cursor:]); err != nil {
				t.Fatalf("cursor %d limit %d: %v", cursor, limit, err)
			}
		}
	}
	got, err := l.ReadFrom(0, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The tail hands out the committed frames themselves; Pebble reads are
	// copies that cannot grow into each other.
	if &got[99].Frame[0] != &want[99].Frame[0] {
		t.Error("tail read copied the frame")
	}
	for _, ev := range got[:90] {
		if cap(ev.Frame) != len(ev.Frame) {
			t.Fatalf("event %d: store frame has spare capacity %d", ev.Seq, cap(ev.Frame)-len(ev.Frame))
		}
	}
}

func TestTailRing(t *testing.T) {
	t.Parallel()
	ev := func(seq int64, size int) Event { return Event{Seq: seq, Frame: make([]byte, size)} }
	push := func(tl *tail, evs ...Event) { tl.push([]*request{{events: evs}}) }
	read := func(tl *tail, from, head int64, limit int) ([]int64, int64, bool) {
		got, first, ok := tl.read(from, head, nil, limit)
		return seqs(got), first, ok
	}

	tl := newTail(3 * (10 + tailEventOverhead))
	if _, first, ok := tl.read(1, 10, nil, 5); ok || first != 0 {
		t.Fatalf("empty tail read: first %d ok %v", first, ok)
	}
	// Push past the ring's initial capacity so it grows and wraps.
	for s := int64(1); s <= 3000; s++ {
		push(tl, ev(s, 10))
	}
	if n, b := tl.stats(); n != 3 || b != 3*(10+tailEventOverhead) {
		t.Fatalf("tail holds %d events %d bytes, want 3", n, b)
	}
	if got, first, ok := read(tl, 2997, 3000, 10); ok || first != 2998 || len(got) != 0 {
		t.Fatalf("read below tail: %v %d %v", got, first, ok)
	}
	if got, _, ok := read(tl, 2998, 3000, 10); !ok || len(got) != 3 || got[0] != 2998 {
		t.Fatalf("read all: %v %v", got, ok)
	}
	if got, _, ok := read(tl, 2998, 2999, 10); !ok || len(got) != 2 {
		t.Fatalf("read bounded by head: %v %v", got, ok)
	}
	if got, _, ok := read(tl, 2999, 3000, 1); !ok || len(got) != 1 || got[0] != 2999 {
		t.Fatalf("read bounded by limit: %v %v", got, ok)
	}
	if got, _, ok := read(tl, 3001, 3000, 10); !ok || len(got) != 0 {
		t.Fatalf("read past head: %v %v", got, ok)
	}

	// A frame bigger than the whole tail is not kept.
	push(tl, ev(3001, 1000))
	if n, _ := tl.stats(); n != 0 {
		t.Fatalf("oversized frame kept: %d events", n)
	}
	// A gap (which the committer never produces) restarts the ring.
	push(tl, ev(3002, 1), ev(3003, 1), ev(3010, 1))
	if got, _, ok := read(tl, 3010, 3010, 10); !ok || len(got) != 1 {
		t.Fatalf("after gap: %v %v", got, ok)
	}
	if _, first, _ := tl.read(3002, 3010, nil, 10); first != 3010 {
		t.Fatalf("after gap the tail starts at %d, want 3010", first)
	}
	tl.dropBelow(3011)
	if n, b := tl.stats(); n != 0 || b != 0 {
		t.Fatalf("after dropBelow: %d events %d bytes", n, b)
	}
}
