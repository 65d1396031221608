package eventlog

import (
	"context"
	"errors"
	"testing"
)

// TestAppendEach: entries are appended in order, a failing entry fails
// alone and uses no seq, and what was acknowledged is what is stored.
func TestAppendEach(t *testing.T) {
	t.Parallel()
	l := openLog(t, Config{NoSync: true})
	startRun(t, l)
	appendN(t, l, 1, 1)
	evs, errs := l.AppendEach(t.Context(), []Entry{entry(10), testEntry{fail: errBoom}, entry(20), entry(30)})
	if !errors.Is(errs[1], errBoom) {
		t.Fatalf("failing entry: %v", errs[1])
	}
	want := map[int]int64{0: 2, 2: 3, 3: 4}
	for i, seq := range want {
		if errs[i] != nil || evs[i].Seq != seq {
			t.Fatalf("entry %d: seq %d err %v, want seq %d", i, evs[i].Seq, errs[i], seq)
		}
		checkEvent(t, evs[i])
	}
	got := readAll(t, l, 0, 10)
	if len(got) != 4 {
		t.Fatalf("stored %v", seqs(got))
	}
	if err := sameEvents(got[1:], []Event{evs[0], evs[2], evs[3]}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, errs = l.AppendEach(ctx, []Entry{entry(1), entry(1)})
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("entry %d after cancel: %v", i, err)
		}
	}
	if l.Head() != 4 {
		t.Errorf("head %d after cancelled appends, want 4", l.Head())
	}
}
