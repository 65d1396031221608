package subscribe

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

// TestWriteGapHoldsAndShutsDown: with a WriteGap, the first event after
// connecting goes out at once, later ones wait out the gap (an hour here:
// they are still held when the server shuts down), and a subscriber waiting
// out its gap still closes at once with 1001 on shutdown.
func TestWriteGapHoldsAndShutsDown(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{WriteGap: time.Hour})
	r := &reader{ws: mustDial(t, ts.url(""))}
	waitFor(t, "subscriber", func() bool { return ts.Subscribers() == 1 })
	appendN(t, l, 1, 1, identity)
	r.expectEvents(t, 1, 1)
	appendN(t, l, 3, 1, identity)
	// The writer is now parked in its gap; shutting down must not wait an
	// hour, and the held events must not be sent after the close.
	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(t.Context()) }()
	seq, f, err := r.nextSeq()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("got seq %d frame %+v err %v, want close 1001 (events 2-4 held by the gap)", seq, f, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestWriteGapDeliversEverything: with a short gap, events appended one at
// a time while the writer waits out its gaps all arrive, in order, once.
func TestWriteGapDeliversEverything(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{WriteGap: 20 * time.Millisecond})
	r := &reader{ws: mustDial(t, ts.url(""))}
	waitFor(t, "subscriber", func() bool { return ts.Subscribers() == 1 })
	const n = 300
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := l.Append(context.Background(), identity(i)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	r.expectEvents(t, 1, n)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Counted after each write returns, so possibly after the read above.
	waitFor(t, "frames counted", func() bool { return ts.metric(t, "conflux_subscribe_frames_sent_total", "") == n })
}
