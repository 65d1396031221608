package subscribe

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

// TestStalledSubscriberDropped: a client that never reads holds neither the
// appender nor the other subscribers, and is dropped once a write to it
// blocks past the write deadline.
func TestStalledSubscriberDropped(t *testing.T) {
	t.Parallel()
	const n = 3000 // of 8 KiB: far more than the socket buffers hold
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{WriteTimeout: 2 * time.Second})

	stalled, resp, err := dial(t.Context(), ts.url(cursorQuery(0)), 4096)
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, describe(resp))
	}
	defer stalled.Close()
	var wg sync.WaitGroup
	var readerDrops atomic.Int32
	for range 3 {
		wg.Go(func() {
			// On a starved machine a reader, too, may miss the deadline;
			// it then resumes from its cursor, as a real client does.
			for next := int64(1); next <= n; {
				ws, resp, err := dial(t.Context(), ts.url(cursorQuery(next-1)), 0)
				if err != nil {
					t.Errorf("dial: %v (%s)", err, describe(resp))
					return
				}
				r := &reader{ws: ws}
				for ; next <= n; next++ {
					seq, f, err := r.nextSeq()
					if err != nil {
						readerDrops.Add(1)
						break
					}
					if f != nil || seq != next {
						t.Errorf("got seq %d (frame %+v), want %d", seq, f, next)
						return
					}
				}
				ws.Close()
			}
		})
	}
	appendN(t, l, n, 50, func(int) eventlog.Entry { return bigIdentity(8 << 10) })
	wg.Wait() // every reader got every event, stalled subscriber or not

	// The readers have left; the stalled subscriber goes once its blocked
	// write hits the deadline. (Reading it before then would unblock it.)
	waitFor(t, "no subscribers", func() bool { return ts.Subscribers() == 0 })

	// The stalled client finds its connection cut (no close frame: the
	// server could not write one) before it got everything.
	stalled.SetReadDeadline(time.Now().Add(time.Minute))
	r := &reader{ws: stalled}
	got := 0
	for {
		_, f, err := r.nextSeq()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseGoingAway, websocket.CloseNormalClosure) {
				t.Fatalf("stalled client: %v, want the connection cut", err)
			}
			break
		}
		if f != nil {
			t.Fatalf("stalled client got frame %+v", f)
		}
		got++
	}
	if got >= n {
		t.Fatalf("stalled client received all %d events", got)
	}
	if d := ts.metric(t, "conflux_subscribe_drops_total", "write_timeout"); d != float64(1+readerDrops.Load()) {
		t.Errorf("write_timeout drops = %v, want 1 + %d reader drops", d, readerDrops.Load())
	}
}

// TestSlowSubscriberOutOfWindow: a subscriber that reads, but too slowly,
// falls out of the retained window; it gets every event up to where it was,
// then a ConsumerTooSlow error frame and a 1008 close.
func TestSlowSubscriberOutOfWindow(t *testing.T) {
	t.Parallel()
	const n = 10_000 // of 2 KiB, against a 1 MiB window
	l := startLog(t, eventlog.Config{NoSync: true, MaxBytes: 1 << 20})
	ts := startServer(t, l, Config{WriteTimeout: time.Hour})
	appendN(t, l, 10, 10, identity)

	ws, resp, err := dial(t.Context(), ts.url(cursorQuery(0)), 4096)
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, describe(resp))
	}
	defer ws.Close()
	r := &reader{ws: ws}
	r.expectEvents(t, 1, 5)
	// Stop reading while the stream moves on and the window moves past
	// what the socket buffers (and one read batch) can hold for it.
	appendN(t, l, n, 100, func(int) eventlog.Entry { return bigIdentity(2 << 10) })
	if _, err := l.Trim(t.Context()); err != nil {
		t.Fatalf("Trim: %v", err)
	}
	oldest := l.Oldest()
	if oldest < n/2 {
		t.Fatalf("Oldest = %d after trimming to 1 MiB", oldest)
	}
	next := int64(6)
	for {
		seq, f, err := r.nextSeq()
		if err != nil {
			t.Fatalf("after seq %d: %v, want the ConsumerTooSlow frame", next-1, err)
		}
		if f != nil {
			e, ok := f.Msg.(*firehose.ErrorFrame)
			if !ok || f.Op != firehose.OpError || e.Error != firehose.ErrNameConsumerTooSlow {
				t.Fatalf("after seq %d: frame %+v, want ConsumerTooSlow", next-1, f)
			}
			break
		}
		if seq != next {
			t.Fatalf("got seq %d, want %d", seq, next)
		}
		next++
	}
	if next >= oldest {
		t.Fatalf("got events up to %d with the window starting at %d: never fell out", next-1, oldest)
	}
	r.expectClose(t, 1008, firehose.ErrNameConsumerTooSlow)
	waitFor(t, "drop", func() bool {
		return ts.metric(t, "conflux_subscribe_drops_total", "consumer_too_slow") == 1 && ts.Subscribers() == 0
	})
}
