package eventlog

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// writtenLog leaves a closed log of n events in a fresh directory.
func writtenLog(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(Config{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	appendN(t, l, n, 10)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tamper applies f to the raw store.
func tamper(t *testing.T, dir string, f func(db *pebble.DB) error) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{openLog(t, Config{NoSync: true}).log}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f(db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDetectsCorruption(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		f    func(db *pebble.DB) error
	}{
		{"head missing", func(db *pebble.DB) error { return db.Delete(headKey, nil) }},
		{"head behind last event", func(db *pebble.DB) error {
			return db.Set(headKey, headState{seq: 3, time: 1, bytes: 10, events: 3, oldest: 1}.value(), nil)
		}},
		{"event beyond head", func(db *pebble.DB) error {
			return db.Set(seqKey(prefixEvent, 9), make([]byte, 8), nil)
		}},
		{"oldest checkpoint missing", func(db *pebble.DB) error {
			return db.Delete(seqKey(prefixIndex, 1), nil)
		}},
		{"malformed event key", func(db *pebble.DB) error {
			return db.Set([]byte{prefixEvent, 1}, make([]byte, 8), nil)
		}},
		{"malformed head", func(db *pebble.DB) error { return db.Set(headKey, []byte{1}, nil) }},
		{"event below horizon", func(db *pebble.DB) error {
			return db.Set(headKey, headState{seq: 5, time: 1 << 62, bytes: 130, events: 5, oldest: 3}.value(), nil)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := writtenLog(t, 5)
			tamper(t, dir, c.f)
			l, err := Open(Config{Dir: dir})
			if !errors.Is(err, ErrCorrupt) {
				if err == nil {
					l.Close()
				}
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestReadDetectsCorruption(t *testing.T) {
	t.Parallel()
	dir := writtenLog(t, 5)
	tamper(t, dir, func(db *pebble.DB) error {
		return db.Set(seqKey(prefixEvent, 3), []byte{1, 2}, nil) // shorter than its time
	})
	l := openLog(t, Config{Dir: dir})
	if got, err := l.ReadFrom(0, nil, 2); err != nil || len(got) != 2 {
		t.Fatalf("ReadFrom before the damage: %v, %v", seqs(got), err)
	}
	if got, err := l.ReadFrom(0, nil, 10); !errors.Is(err, ErrCorrupt) || len(got) != 0 {
		t.Fatalf("ReadFrom across the damage: %v, %v; want ErrCorrupt and nothing", seqs(got), err)
	}
}
