package consumer

import (
	"context"
	"encoding/binary"
	"testing"
)

// OnCommit sees every event exactly once, in batches in seq order, and
// only once their effects and the cursor are readable in the DB.
func TestDurableOnCommit(t *testing.T) {
	t.Parallel()
	const n = 150
	frames := identityFrames(t, n)
	srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	db := openDB(t, t.TempDir(), nil)
	defer db.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := durableConfig(srv.URL(), db, "observed", &counterIndex{last: n, cancel: cancel}, 7)
	var total int
	var last int64
	cfg.Durable.OnCommit = func(k int, ev Event) {
		if k < 1 || k > 7 {
			t.Errorf("batch of %d events, want 1..7", k)
		}
		if ev.Seq != last+int64(k) {
			t.Errorf("batch of %d ending at seq %d after seq %d", k, ev.Seq, last)
		}
		total, last = total+k, ev.Seq
		if got := loadCursor(t, db, "observed"); got != ev.Seq {
			t.Errorf("stored cursor %d when told of seq %d", got, ev.Seq)
		}
		v, err := get(db, []byte("n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 8 || binary.BigEndian.Uint64(v) != uint64(total) {
			t.Errorf("counter %d readable after %d events", v, total)
		}
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatal(err)
	}
	if total != n || last != n {
		t.Fatalf("observed %d events up to seq %d, want %d", total, last, n)
	}
}
