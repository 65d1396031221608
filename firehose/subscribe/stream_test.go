package subscribe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

// accountHeader starts every #account frame: the big test ends its stream
// with one, and readers spot it without decoding every frame.
var accountHeader = []byte("\xa2\x61t\x68#account\x62op\x01")

// subPlan is how one subscriber of the big test connects.
type subPlan struct {
	live       bool  // no cursor
	cursor     int64 // else: -1 means a random cursor at connect time
	at         int64 // connect once the head reaches this
	reconnects int   // times to drop the connection mid-stream and resume
	abrupt     bool  // drop the TCP connection instead of a close handshake
}

// TestManySubscribersNoGapNoDuplicate: 50 subscribers connect while 100k
// events are appended: live, from cursor 0, from random cursors, and some
// dropping and resuming mid-stream from their last seen seq. Each must
// receive exactly cursor+1 .. the last event, in order.
func TestManySubscribersNoGapNoDuplicate(t *testing.T) {
	t.Parallel()
	total := int64(100_000)
	if testing.Short() {
		total = 10_000
	}
	const subs = 50
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	l := startLog(t, eventlog.Config{NoSync: true})
	// A long write deadline: on a starved machine a client goroutine may
	// not run for seconds, and this test is about order, not deadlines.
	ts := startServer(t, l, Config{MaxConnsPerIP: -1, WriteTimeout: 10 * time.Minute})

	plans := make([]subPlan, subs)
	for i := range plans {
		p := subPlan{cursor: -1, at: rng.Int64N(total * 9 / 10)}
		switch i % 5 {
		case 0:
			p.live = true
		case 1:
			if i < 10 {
				p.cursor = 0
			}
		case 3:
			p.reconnects = 1 + rng.IntN(3)
		case 4:
			p.reconnects, p.abrupt = 1+rng.IntN(3), true
		}
		plans[i] = p
	}

	var firstSeen sync.WaitGroup
	firstSeen.Add(subs)
	var wg sync.WaitGroup
	for i, p := range plans {
		prng := rand.New(rand.NewPCG(seed, uint64(i)+2))
		wg.Go(func() {
			var once sync.Once
			first := func() { once.Do(firstSeen.Done) }
			defer first() // never leave the appender waiting on a failed subscriber
			if err := runSubscriber(t.Context(), ts, l, p, prng, first); err != nil {
				t.Errorf("subscriber %d (%+v): %v", i, p, err)
			}
		})
	}

	// Append in random batches, then keep a trickle going until every
	// subscriber has seen an event (a live one that connects at the very
	// end must still get something), then end the stream with an #account.
	for n := int64(0); n < total; {
		k := min(total-n, 1+rng.Int64N(200))
		appendN(t, l, int(k), int(k), identity)
		n += k
	}
	stop := keepAppending(t, l)
	firstSeen.Wait()
	stop()
	if _, err := l.Append(t.Context(), &firehose.Account{DID: "did:plc:end", Active: true}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	waitFor(t, "every connection to end", func() bool { return ts.Subscribers() == 0 })
	if d := ts.metric(t, "conflux_subscribe_drops_total", "consumer_too_slow") +
		ts.metric(t, "conflux_subscribe_drops_total", "write_timeout"); d != 0 {
		t.Errorf("%v slow-consumer drops with nothing trimmed", d)
	}
}

// runSubscriber follows one plan and checks every seq it receives.
func runSubscriber(ctx context.Context, ts *testServer, l *eventlog.Log, p subPlan, rng *rand.Rand, first func()) error {
	waitHead(ctx, l, p.at)
	var query string
	var next, lower int64 // next expected seq; for a live start, a floor
	switch {
	case p.live:
		lower = l.Head() + 1
	case p.cursor < 0:
		c := rng.Int64N(l.Head() + 1)
		query, next = cursorQuery(c), c+1
	default:
		query, next = cursorQuery(p.cursor), p.cursor+1
	}
	for session := 0; ; session++ {
		ws, resp, err := dial(ctx, ts.url(query), 0)
		if err != nil {
			return fmt.Errorf("dial %q: %w (%s)", query, err, describe(resp))
		}
		dropAfter := -1
		if session < p.reconnects {
			dropAfter = 1 + rng.IntN(20_000)
		}
		done, err := readSession(ws, &next, lower, dropAfter, p.abrupt, first)
		if err != nil || done {
			ws.Close()
			return err
		}
		query = cursorQuery(next - 1)
	}
}

// readSession reads one connection until the closing #account (done), or
// until dropAfter frames, when it leaves as planned.
func readSession(ws *websocket.Conn, next *int64, lower int64, dropAfter int, abrupt bool, first func()) (done bool, err error) {
	r := &reader{ws: ws}
	for n := 0; ; n++ {
		if n == dropAfter {
			if abrupt {
				return false, ws.NetConn().Close()
			}
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Minute))
			return false, errors.Join(err, ws.Close())
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Minute)) // a hang guard
		b, err := r.next()
		if err != nil {
			return false, fmt.Errorf("after seq %d: %w", *next-1, err)
		}
		seq, ok, err := firehose.PeekSeq(b)
		if err != nil || !ok {
			return false, fmt.Errorf("after seq %d: frame without seq (%v): %x", *next-1, err, b[:min(len(b), 64)])
		}
		if *next == 0 { // the first event of a live start
			if seq < lower {
				return false, fmt.Errorf("live start at seq %d, but the head was %d before connecting", seq, lower-1)
			}
			*next = seq
		}
		if seq != *next {
			return false, fmt.Errorf("got seq %d, want %d", seq, *next)
		}
		*next++
		first()
		if bytes.HasPrefix(b, accountHeader) {
			ws.Close()
			return true, nil
		}
	}
}

// waitHead returns once the log's head reaches seq.
func waitHead(ctx context.Context, l *eventlog.Log, seq int64) {
	for {
		ch := l.Changed()
		if l.Head() >= seq {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// TestReopenMidStream: the log is closed and reopened under running
// subscribers (a new server on the reopened log); they resume by cursor and
// seq continues across the restart.
func TestReopenMidStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const perPhase = 2000
	open := func() (*eventlog.Log, func() error) {
		l, err := eventlog.Open(eventlog.Config{Dir: dir, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return l, runLog(l)
	}
	l1, stop1 := open()
	ts1 := startServer(t, l1, Config{})
	appendN(t, l1, perPhase/2, 50, identity)

	var url atomic.Pointer[string] // where subscribers (re)connect
	u := ts1.url("")
	url.Store(&u)
	reopened := make(chan struct{})
	queries := []string{cursorQuery(0), cursorQuery(perPhase / 4), cursorQuery(perPhase / 2), ""}
	var wg sync.WaitGroup
	lasts := make([]int64, len(queries))
	for i, q := range queries {
		wg.Go(func() {
			var err error
			lasts[i], err = resumeAcrossRestart(t.Context(), &url, q, reopened, 2*perPhase)
			if err != nil {
				t.Errorf("subscriber %q: %v", q, err)
			}
		})
	}
	waitFor(t, "subscribers", func() bool { return ts1.Subscribers() == len(queries) })
	appendN(t, l1, perPhase/2, 50, identity)

	// Restart: servers first, then the log (the services' shutdown order).
	if err := ts1.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := errors.Join(stop1(), l1.Close()); err != nil {
		t.Fatalf("stop log: %v", err)
	}
	l2, stop2 := open()
	t.Cleanup(func() {
		if err := errors.Join(stop2(), l2.Close()); err != nil {
			t.Errorf("stop log: %v", err)
		}
	})
	if h := l2.Head(); h != perPhase {
		t.Fatalf("reopened head %d, want %d", h, perPhase)
	}
	ts2 := startServer(t, l2, Config{})
	u2 := ts2.url("")
	url.Store(&u2)
	close(reopened)
	evs, err := l2.Append(t.Context(), identity(0))
	if err != nil || evs.Seq != perPhase+1 {
		t.Fatalf("first append after reopen: seq %d, %v; want %d", evs.Seq, err, perPhase+1)
	}
	appendN(t, l2, perPhase-1, 50, identity)
	wg.Wait()
	for i, last := range lasts {
		if last != 2*perPhase {
			t.Errorf("subscriber %q ended at %d", queries[i], last)
		}
	}
}

// resumeAcrossRestart reads from url until seq end, reconnecting with its
// last seq after the server goes away (once reopened is closed). It checks
// that seqs are contiguous across connections.
func resumeAcrossRestart(ctx context.Context, url *atomic.Pointer[string], query string, reopened <-chan struct{}, end int64) (int64, error) {
	var last int64 = -1
	if query == "" {
		last = -2 // live: the first seq sets it
	} else {
		fmt.Sscanf(query, "cursor=%d", &last)
	}
	for restarts := 0; ; restarts++ {
		if restarts > 0 {
			<-reopened
			query = cursorQuery(last)
		}
		u := *url.Load()
		if query != "" {
			u += "?" + query
		}
		ws, resp, err := dial(ctx, u, 0)
		if err != nil {
			if restarts == 0 {
				return last, fmt.Errorf("dial: %w (%s)", err, describe(resp))
			}
			continue // the old server refused: wait for the new one
		}
		r := &reader{ws: ws}
		for {
			ws.SetReadDeadline(time.Now().Add(time.Minute))
			seq, f, err := r.nextSeq()
			if websocket.IsCloseError(err, websocket.CloseGoingAway) {
				break
			}
			if err != nil || f != nil {
				ws.Close()
				return last, fmt.Errorf("after seq %d: frame %+v, %w", last, f, err)
			}
			if last != -2 && seq != last+1 {
				ws.Close()
				return last, fmt.Errorf("got seq %d after %d", seq, last)
			}
			last = seq
			if seq == end {
				ws.Close()
				return last, nil
			}
		}
		ws.Close()
	}
}
