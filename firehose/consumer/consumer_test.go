package consumer

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
)

// Every event arrives once and in order although the server drops the
// connection (with or without a close frame) after a random number of
// events each time, and every reconnect asks for exactly the events after
// the last one the handler processed.
func TestResumeAfterDrops(t *testing.T) {
	t.Parallel()
	const n = 600
	frames := identityFrames(t, n)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 1))
	rec := &recorder{last: n}
	var atConnect []int64 // handler's last seq when each connection opened
	srv := newFakeServer(t, func(c *conn) {
		mu.Lock()
		atConnect = append(atConnect, rec.LastSeq())
		k := 1 + rng.IntN(80)
		graceful := rng.IntN(2) == 0
		mu.Unlock()
		from := int(max(c.Cursor, 0))
		if c.sendFrom(frames, from, from+k) != nil {
			return
		}
		if from+k >= n {
			c.wait()
			return
		}
		if graceful {
			_ = c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "restart"), time.Now().Add(time.Second))
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	rec.cancel = cancel
	c, err := New(fastConfig(srv.URL(), rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeqs(t, rec.Seqs(), n)
	cursors := srv.Cursors()
	if len(cursors) < 2 {
		t.Fatalf("only %d connections: the server's drops did not happen", len(cursors))
	}
	mu.Lock()
	defer mu.Unlock()
	for i, cur := range cursors {
		if cur != atConnect[i] {
			t.Errorf("connection %d asked for cursor %d, handler had processed up to %d", i, cur, atConnect[i])
		}
	}
	st := c.Stats()
	if st.Cursor != n || st.Processed != n {
		t.Errorf("stats cursor %d processed %d, want %d", st.Cursor, st.Processed, n)
	}
	if got := st.Drops[DropReadError]; got != int64(len(cursors)-1) {
		t.Errorf("read_error drops %d, want %d (one per server drop)", got, len(cursors)-1)
	}
}

// A repeated or backwards seq drops the connection, is counted, and the
// consumer resumes after the last processed event; the handler never sees
// the bad event.
func TestOutOfOrderSeq(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		bad  int // index into frames sent after seqs 1..10
	}{
		{"duplicate", 9}, // seq 10 again
		{"backwards", 4}, // seq 5
		{"far_back", 0},  // seq 1
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 30
			frames := identityFrames(t, n)
			srv := newFakeServer(t, func(c *conn) {
				if c.N == 0 {
					if c.sendFrom(frames, 0, 10) == nil {
						_ = c.WriteMessage(websocket.BinaryMessage, frames[tc.bad])
						_ = c.sendFrom(frames, 10, n) // must not be delivered on this connection
						c.wait()
					}
					return
				}
				c.serveRest(frames)
			})
			ctx, cancel := context.WithCancel(t.Context())
			rec := &recorder{last: n, cancel: cancel}
			c, err := New(fastConfig(srv.URL(), rec))
			if err != nil {
				t.Fatal(err)
			}
			if err := runConsumer(t, ctx, c); err != nil {
				t.Fatalf("Run: %v", err)
			}
			wantSeqs(t, rec.Seqs(), n)
			if got := srv.Cursors(); len(got) != 2 || got[1] != 10 {
				t.Errorf("cursors %v, want [0 10]", got)
			}
			if got := c.Stats().Drops[DropOutOfOrder]; got != 1 {
				t.Errorf("out_of_order drops %d, want 1", got)
			}
		})
	}
}

// A server that resends the cursor event first (seq >= cursor, like
// rainbow) is tolerated: the repeat is skipped and counted, not delivered
// and not a drop. A repeat anywhere else still is.
func TestInclusiveCursorServer(t *testing.T) {
	t.Parallel()
	const n = 40
	frames := identityFrames(t, n)
	srv := newFakeServer(t, func(c *conn) {
		from := int(max(c.Cursor, 0))
		if c.Cursor > 0 {
			from-- // inclusive
		}
		if c.N == 0 {
			_ = c.sendFrom(frames, from, 15)
			return // drop after seq 15
		}
		if c.sendFrom(frames, from, n) == nil {
			c.wait()
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{last: n, cancel: cancel}
	c, err := New(fastConfig(srv.URL(), rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeqs(t, rec.Seqs(), n)
	st := c.Stats()
	if st.Skipped[SkipRedelivered] != 1 || st.Drops[DropOutOfOrder] != 0 {
		t.Errorf("redelivered %d, out_of_order %d; want 1, 0", st.Skipped[SkipRedelivered], st.Drops[DropOutOfOrder])
	}
}

// Text frames, undecodable frames, a seq of 0 and a frame over the read
// limit each drop the connection and are counted by reason; the consumer
// carries on and every event arrives once.
func TestBadFramesDropConnection(t *testing.T) {
	t.Parallel()
	const n = 50
	frames := identityFrames(t, n)
	truncated := frames[5][:len(frames[5])-3]
	seqZero := mustEncode(t, &firehose.Identity{Seq: 0, DID: "did:plc:zero", Time: "2026-08-01T00:00:00.000Z"})
	faults := []func(c *conn){
		func(c *conn) { _ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":1,"t":"#identity"}`)) },
		func(c *conn) { _ = c.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0x00, 0x13, 0x37}) },
		func(c *conn) { _ = c.WriteMessage(websocket.BinaryMessage, truncated) },
		func(c *conn) { _ = c.WriteMessage(websocket.BinaryMessage, seqZero) },
		func(c *conn) { _ = c.WriteMessage(websocket.BinaryMessage, make([]byte, 8<<10)) },
	}
	srv := newFakeServer(t, func(c *conn) {
		from := int(max(c.Cursor, 0))
		if c.N < len(faults) {
			if c.sendFrom(frames, from, from+3) == nil {
				faults[c.N](c)
				_ = c.sendFrom(frames, from+3, n) // never delivered on this connection
				c.wait()
			}
			return
		}
		c.serveRest(frames)
	})
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{last: n, cancel: cancel}
	cfg := fastConfig(srv.URL(), rec)
	cfg.ReadLimit = 4 << 10
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeqs(t, rec.Seqs(), n)
	st := c.Stats()
	want := map[DropReason]int64{DropTextFrame: 1, DropBadFrame: 3, DropTooBig: 1}
	for r, w := range want {
		if st.Drops[r] != w {
			t.Errorf("drops[%s] = %d, want %d (all: %v)", r, st.Drops[r], w, st.Drops)
		}
	}
	if got := srv.Cursors(); len(got) != len(faults)+1 {
		t.Errorf("%d connections, want %d", len(got), len(faults)+1)
	}
}

// #info OutdatedCursor is logged and counted and the stream goes on on the
// same connection; a frame of an unknown type is skipped.
func TestOutdatedCursorAndUnknownType(t *testing.T) {
	t.Parallel()
	const n = 20
	frames := identityFrames(t, n)
	// {t:"#future", op:1} then an empty map: a type from a newer lexicon.
	unknown := []byte{0xa2, 0x61, 't', 0x67, '#', 'f', 'u', 't', 'u', 'r', 'e', 0x62, 'o', 'p', 0x01, 0xa0}
	srv := newFakeServer(t, func(c *conn) {
		_ = c.WriteMessage(websocket.BinaryMessage, mustEncode(t, &firehose.Info{
			Name: firehose.InfoOutdatedCursor, Message: "Requested cursor exceeded limit. Possibly missing events",
		}))
		_ = c.sendFrom(frames, 0, 10)
		_ = c.WriteMessage(websocket.BinaryMessage, unknown)
		_ = c.sendFrom(frames, 10, n)
		c.wait()
	})
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{last: n, cancel: cancel}
	c, err := New(fastConfig(srv.URL(), rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeqs(t, rec.Seqs(), n)
	st := c.Stats()
	if st.OutdatedCursor != 1 || st.Skipped[SkipInfo] != 1 || st.Skipped[SkipUnknownType] != 1 {
		t.Errorf("outdated %d, info %d, unknown %d; want 1 each", st.OutdatedCursor, st.Skipped[SkipInfo], st.Skipped[SkipUnknownType])
	}
	if st.Dials != 1 {
		t.Errorf("%d dials, want 1 (info and unknown types must not drop)", st.Dials)
	}
}

// FutureCursor stops Run with an error naming it (the default policy).
func TestFutureCursorStops(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, func(c *conn) {
		c.sendError(t, firehose.ErrNameFutureCursor, "Cursor in the future.")
		c.wait()
	})
	rec := &recorder{}
	cfg := fastConfig(srv.URL(), rec)
	cfg.Cursor = 100
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = runConsumer(t, t.Context(), c)
	if !errors.Is(err, ErrFutureCursor) || !strings.Contains(err.Error(), "FutureCursor") {
		t.Fatalf("Run = %v, want ErrFutureCursor", err)
	}
	if got := c.Stats().Drops[DropFutureCursor]; got != 1 {
		t.Errorf("future_cursor drops %d, want 1", got)
	}
	if c.Cursor() != 100 {
		t.Errorf("cursor moved to %d", c.Cursor())
	}
}

// With FutureCursorRestartLive the consumer reconnects without a cursor,
// takes the server's new (lower) seqs, and resumes from those afterwards.
func TestFutureCursorRestartLive(t *testing.T) {
	t.Parallel()
	const n = 12
	frames := identityFrames(t, n)
	srv := newFakeServer(t, func(c *conn) {
		switch {
		case c.Cursor == 100:
			c.sendError(t, firehose.ErrNameFutureCursor, "Cursor in the future.")
		case c.N == 1:
			_ = c.sendFrom(frames, 0, 5) // "live" events of the restarted server
		default:
			c.serveRest(frames)
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{last: n, cancel: cancel}
	cfg := fastConfig(srv.URL(), rec)
	cfg.Cursor = 100
	cfg.OnFutureCursor = FutureCursorRestartLive
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeqs(t, rec.Seqs(), n)
	if got := srv.Cursors(); len(got) != 3 || got[0] != 100 || got[1] != NoCursor || got[2] != 5 {
		t.Errorf("cursors %v, want [100 none 5]", got)
	}
}

// ConsumerTooSlow makes the consumer reconnect from its last processed
// event.
func TestConsumerTooSlowReconnects(t *testing.T) {
	t.Parallel()
	const n = 25
	frames := identityFrames(t, n)
	srv := newFakeServer(t, func(c *conn) {
		if c.N == 0 {
			if c.sendFrom(frames, 0, 7) == nil {
				c.sendError(t, firehose.ErrNameConsumerTooSlow, "Stream consumer too slow")
				c.wait()
			}
			return
		}
		c.serveRest(frames)
	})
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{last: n, cancel: cancel}
	c, err := New(fastConfig(srv.URL(), rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeqs(t, rec.Seqs(), n)
	if got := srv.Cursors(); len(got) != 2 || got[1] != 7 {
		t.Errorf("cursors %v, want [0 7]", got)
	}
	if got := c.Stats().Drops[DropConsumerTooSlow]; got != 1 {
		t.Errorf("consumer_too_slow drops %d, want 1", got)
	}
}

// A handler error stops Run with that error; the cursor stays at the last
// event the handler accepted.
func TestHandlerErrorStops(t *testing.T) {
	t.Parallel()
	frames := identityFrames(t, 20)
	srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	boom := errors.New("index full")
	rec := &recorder{hook: func(ev Event) error {
		if ev.Seq == 7 {
			return boom
		}
		return nil
	}}
	c, err := New(fastConfig(srv.URL(), rec))
	if err != nil {
		t.Fatal(err)
	}
	err = runConsumer(t, t.Context(), c)
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	if c.Cursor() != 6 {
		t.Errorf("cursor %d, want 6", c.Cursor())
	}
	wantSeqs(t, rec.Seqs(), 6)
}

// ErrRetry from the handler redelivers the event after a reconnect.
func TestHandlerRetry(t *testing.T) {
	t.Parallel()
	const n = 20
	frames := identityFrames(t, n)
	srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	ctx, cancel := context.WithCancel(t.Context())
	failed := false
	rec := &recorder{last: n, cancel: cancel, hook: func(ev Event) error {
		if ev.Seq == 7 && !failed {
			failed = true
			return errors.Join(errors.New("database busy"), ErrRetry)
		}
		return nil
	}}
	c, err := New(fastConfig(srv.URL(), rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeqs(t, rec.Seqs(), n)
	if got := srv.Cursors(); len(got) != 2 || got[1] != 6 {
		t.Errorf("cursors %v, want [0 6]", got)
	}
	if got := c.Stats().Drops[DropHandlerRetry]; got != 1 {
		t.Errorf("handler_retry drops %d, want 1", got)
	}
}

// Cancelling ctx while the handler runs lets it finish that event, counts
// the event as processed, delivers nothing more and returns nil.
func TestCancelFinishesCurrentEvent(t *testing.T) {
	t.Parallel()
	frames := identityFrames(t, 20)
	srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	ctx, cancel := context.WithCancel(t.Context())
	inside, release := make(chan struct{}), make(chan struct{})
	rec := &recorder{hook: func(ev Event) error {
		if ev.Seq == 3 {
			close(inside)
			<-release // ignores ctx on purpose: it finishes its event
		}
		return nil
	}}
	c, err := New(fastConfig(srv.URL(), rec))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	<-inside
	cancel()
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	wantSeqs(t, rec.Seqs(), 3)
	if c.Cursor() != 3 {
		t.Errorf("cursor %d, want 3", c.Cursor())
	}
}

// A handler that gives up on cancellation leaves its event unprocessed and
// Run still returns nil.
func TestCancelInterruptsHandler(t *testing.T) {
	t.Parallel()
	frames := identityFrames(t, 20)
	srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	ctx, cancel := context.WithCancel(t.Context())
	h := HandlerFunc(func(ctx context.Context, ev Event) error {
		if ev.Seq == 4 {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	c, err := New(fastConfig(srv.URL(), h))
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if c.Cursor() != 3 {
		t.Errorf("cursor %d, want 3", c.Cursor())
	}
}

// A server that accepts but never answers our pings is declared dead after
// IdleTimeout; one that answers them survives a silence longer than that.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	const n = 10
	frames := identityFrames(t, n)
	srv := newFakeServer(t, func(c *conn) {
		if c.N == 0 {
			// Silent, and no pong answers the client's pings: dead.
			_ = c.sendFrom(frames, 0, 3)
			c.wait()
			return
		}
		_ = c.sendFrom(frames, int(c.Cursor), 6)
		select { // silent but answering pings, for several idle timeouts
		case <-time.After(1500 * time.Millisecond):
		case <-c.done:
		}
		if c.sendFrom(frames, 6, n) == nil {
			c.wait()
		}
	})
	srv.noPong = func(n int) bool { return n == 0 }
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{last: n, cancel: cancel}
	cfg := fastConfig(srv.URL(), rec)
	cfg.PingInterval, cfg.IdleTimeout = 25*time.Millisecond, 500*time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeqs(t, rec.Seqs(), n)
	st := c.Stats()
	if st.Drops[DropIdleTimeout] != 1 || st.Dials != 2 {
		t.Errorf("idle drops %d, dials %d; want 1, 2 (drops: %v)", st.Drops[DropIdleTimeout], st.Dials, st.Drops)
	}
}

// HTTP failures before the upgrade: 503 is retried, 501 stops Run, and
// MaxFailures bounds the retries.
func TestDialFailures(t *testing.T) {
	t.Parallel()
	frames := identityFrames(t, 5)
	t.Run("retry_503", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
		srv.reject = func(w http.ResponseWriter, _ *http.Request, n int) bool {
			if n < 2 {
				http.Error(w, `{"error":"Unavailable"}`, http.StatusServiceUnavailable)
				return true
			}
			return false
		}
		ctx, cancel := context.WithCancel(t.Context())
		rec := &recorder{last: 5, cancel: cancel}
		c, err := New(fastConfig(srv.URL(), rec))
		if err != nil {
			t.Fatal(err)
		}
		if err := runConsumer(t, ctx, c); err != nil {
			t.Fatalf("Run: %v", err)
		}
		wantSeqs(t, rec.Seqs(), 5)
		if st := c.Stats(); st.Dials != 3 || st.DialErrors != 2 {
			t.Errorf("dials %d errors %d, want 3, 2", st.Dials, st.DialErrors)
		}
	})
	t.Run("not_implemented", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
		srv.reject = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
			http.Error(w, `{"error":"MethodNotImplemented"}`, http.StatusNotImplemented)
			return true
		}
		c, err := New(fastConfig(srv.URL(), &recorder{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := runConsumer(t, t.Context(), c); !errors.Is(err, ErrNotImplemented) {
			t.Fatalf("Run = %v, want ErrNotImplemented", err)
		}
	})
	t.Run("max_failures", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
		srv.reject = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
			http.Error(w, "down", http.StatusBadGateway)
			return true
		}
		cfg := fastConfig(srv.URL(), &recorder{})
		cfg.MaxFailures = 3
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = runConsumer(t, t.Context(), c)
		if !errors.Is(err, ErrGaveUp) || !strings.Contains(err.Error(), "502") {
			t.Fatalf("Run = %v, want ErrGaveUp naming HTTP 502", err)
		}
		if st := c.Stats(); st.Dials != 3 {
			t.Errorf("dials %d, want 3", st.Dials)
		}
	})
}

// A redirect is followed and keeps our cursor.
func TestFollowsRedirect(t *testing.T) {
	t.Parallel()
	frames := identityFrames(t, 8)
	target := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	front := newFakeServer(t, func(c *conn) { t.Error("front server upgraded a connection") })
	front.reject = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		http.Redirect(w, r, target.URL()+Endpoint+"?cursor=999", http.StatusFound)
		return true
	}
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{last: 8, cancel: cancel}
	cfg := fastConfig(front.URL(), rec)
	cfg.Cursor = 2
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := rec.Seqs(); len(got) != 6 || got[0] != 3 || got[5] != 8 {
		t.Errorf("seqs %v, want 3..8", got)
	}
	if got := target.Cursors(); len(got) != 1 || got[0] != 2 {
		t.Errorf("target saw cursors %v, want [2]", got)
	}
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	frames := identityFrames(t, 1)
	srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{last: 1, cancel: cancel}
	c, err := New(fastConfig(srv.URL(), rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(t.Context()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	h := HandlerFunc(func(context.Context, Event) error { return nil })
	for name, cfg := range map[string]Config{
		"no handler":      {URL: "ws://x"},
		"bad url":         {URL: "ftp://x", Handler: h},
		"cursor in url":   {URL: "ws://x/?cursor=3", Handler: h},
		"negative cursor": {URL: "ws://x", Handler: h, Cursor: -2},
		"both handlers":   {URL: "ws://x", Handler: h, Durable: &Durable{}},
		"backoff order":   {URL: "ws://x", Handler: h, MinBackoff: time.Second, MaxBackoff: time.Millisecond},
		"idle vs ping":    {URL: "ws://x", Handler: h, PingInterval: time.Second, IdleTimeout: time.Second},
		"policy":          {URL: "ws://x", Handler: h, OnFutureCursor: 7},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := New(Config{URL: "ws://x", Handler: h, Cursor: NoCursor}); err != nil {
		t.Errorf("NoCursor rejected: %v", err)
	}
}
