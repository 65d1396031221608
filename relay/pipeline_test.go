package relay

import (
	"context"
	"testing"

	"github.com/conflux-atproto/conflux/firehose/consumer"
)

// TestPipelineCursor: the host cursor only passes a seq once it and every
// earlier seq are done, whatever order the workers finish in, and what is
// stored is what was passed.
func TestPipelineCursor(t *testing.T) {
	t.Parallel()
	r, err := New(Config{DataDir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	cp, err := consumer.NewCheckpoint(r.db, "host/test")
	if err != nil {
		t.Fatal(err)
	}
	_, fail := context.WithCancelCause(context.Background())
	p := newPipeline(r, nil, cp, 2, fail)
	p.mu.pending = []int64{3, 5, 9, 10}
	steps := []struct {
		finish int64
		cursor int64
	}{
		{9, -1}, // 3 and 5 still running
		{5, -1},
		{3, 9}, // 3, 5, 9 done: the prefix up to 9
		{10, 10},
	}
	for _, s := range steps {
		p.finish([]int64{s.finish})
		if p.mu.cursor != s.cursor {
			t.Fatalf("after finishing %d: cursor %d, want %d", s.finish, p.mu.cursor, s.cursor)
		}
		stored, ok, err := cp.Load()
		if err != nil {
			t.Fatal(err)
		}
		if s.cursor >= 0 && (!ok || stored != s.cursor) {
			t.Fatalf("after finishing %d: stored %d (%v), want %d", s.finish, stored, ok, s.cursor)
		}
		if s.cursor < 0 && ok {
			t.Fatalf("after finishing %d: cursor %d stored before its prefix was done", s.finish, stored)
		}
	}
	if len(p.mu.pending) != 0 || len(p.mu.done) != 0 {
		t.Errorf("left over: pending %v done %v", p.mu.pending, p.mu.done)
	}
}
