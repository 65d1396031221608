package subscribe

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

func TestClientFramesIgnoredAndPingsAnswered(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{})
	ws := mustDial(t, ts.url(cursorQuery(0)))
	var pongs atomic.Int32
	ws.SetPongHandler(func(data string) error {
		if data == "are you there" {
			pongs.Add(1)
		}
		return nil
	})
	// The spec says to ignore what clients send: text, binary, a ping.
	for _, m := range []struct {
		typ  int
		data string
	}{{websocket.TextMessage, "hello"}, {websocket.BinaryMessage, "\xff\x00"}} {
		if err := ws.WriteMessage(m.typ, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, 3, identity)
	r := &reader{ws: ws}
	r.expectEvents(t, 1, 3) // pongs are handled while reading
	waitFor(t, "pong", func() bool {
		if pongs.Load() > 0 {
			return true
		}
		appendOne(t, l, 0) // keep the reader reading
		_, _, _ = r.nextSeq()
		return false
	})
}

func TestIdlePingsAndPingTimeout(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{PingInterval: 100 * time.Millisecond})

	// A reading client answers pings (gorilla's default handler). On a
	// starved machine even it may miss two in a row and be dropped; it then
	// reconnects, as a real client would, and the count goes on.
	var pings atomic.Int32
	quit := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(quit)
	wg.Go(func() {
		for {
			select {
			case <-quit:
				return
			default:
			}
			ws, _, err := dial(t.Context(), ts.url(""), 0)
			if err != nil {
				continue
			}
			def := ws.PingHandler()
			ws.SetPingHandler(func(data string) error {
				pings.Add(1)
				return def(data)
			})
			go func() {
				<-quit
				ws.Close()
			}()
			for {
				if _, _, err := ws.NextReader(); err != nil {
					break
				}
			}
		}
	})
	waitFor(t, "5 pings", func() bool { return pings.Load() >= 5 })

	// A client that never answers is dropped after unanswered pings.
	mute := mustDial(t, ts.url(""))
	mute.SetPingHandler(func(string) error { return nil })
	_, _, err := mute.NextReader()
	if err == nil {
		t.Fatal("mute client got a message, want the connection closed")
	}
	if websocket.IsCloseError(err, websocket.CloseGoingAway, websocket.ClosePolicyViolation) {
		t.Fatalf("mute client: %v, want the connection cut without a close frame", err)
	}
	waitFor(t, "ping timeout drop", func() bool {
		return ts.metric(t, "conflux_subscribe_drops_total", "ping_timeout") >= 1
	})
}

func TestClientClose(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{})
	ws := mustDial(t, ts.url(""))
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// The server echoes the close code.
	(&reader{ws: ws}).expectClose(t, websocket.CloseNormalClosure, "")
	waitFor(t, "client_closed", func() bool {
		return ts.metric(t, "conflux_subscribe_drops_total", "client_closed") == 1 && ts.Subscribers() == 0
	})

	// A client that just drops the TCP connection.
	ws = mustDial(t, ts.url(""))
	ws.NetConn().Close()
	waitFor(t, "second client_closed", func() bool {
		return ts.metric(t, "conflux_subscribe_drops_total", "client_closed") == 2 && ts.Subscribers() == 0
	})
	if g := ts.metric(t, "conflux_subscribe_subscribers", ""); g != 0 {
		t.Errorf("subscribers gauge = %v, want 0", g)
	}
}

func TestReadLimit(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{ReadLimit: 1024})
	ws := mustDial(t, ts.url(""))
	if err := ws.WriteMessage(websocket.BinaryMessage, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, make([]byte, 1025)); err != nil {
		t.Fatal(err)
	}
	_, _, err := ws.NextReader()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) && !isConnError(err) {
		t.Fatalf("after an oversized message: %v, want close 1009 or a closed connection", err)
	}
	waitFor(t, "drop", func() bool { return ts.Subscribers() == 0 })
}

func isConnError(err error) bool {
	var ce *websocket.CloseError
	return err != nil && !errors.As(err, &ce)
}

func TestShutdownSendsCloseFrames(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{})
	appendN(t, l, 10, 10, identity)
	var readers []*reader
	for _, q := range []string{"", cursorQuery(0), cursorQuery(5)} {
		readers = append(readers, &reader{ws: mustDial(t, ts.url(q))})
	}
	waitFor(t, "3 subscribers", func() bool { return ts.Subscribers() == 3 })
	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(t.Context()) }()
	for i, r := range readers {
		for {
			seq, f, err := r.nextSeq()
			if err != nil {
				if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
					t.Fatalf("reader %d: %v, want close 1001", i, err)
				}
				break
			}
			if f != nil || seq < 1 || seq > 10 {
				t.Fatalf("reader %d: seq %d frame %+v", i, seq, f)
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if ts.Subscribers() != 0 {
		t.Errorf("Subscribers = %d after Shutdown", ts.Subscribers())
	}
	if got := ts.metric(t, "conflux_subscribe_drops_total", "shutdown"); got != 3 {
		t.Errorf("shutdown drops = %v, want 3", got)
	}
	_, resp, err := dial(t.Context(), ts.url(""), 0)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Shutdown: %v (%s), want 503", err, describe(resp))
	}
	if err := ts.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// A subscriber that reads nothing cannot hold a shutdown past its budget.
func TestShutdownBudgetForcesStalled(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{WriteTimeout: time.Hour, CloseWait: time.Hour})
	ws, resp, err := dial(t.Context(), ts.url(cursorQuery(0)), 4096)
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, describe(resp))
	}
	defer ws.Close()
	// Enough to fill both socket buffers, so the writer is stuck in a write.
	appendN(t, l, 2000, 100, func(int) eventlog.Entry { return bigIdentity(8 << 10) })
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = ts.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the budget's DeadlineExceeded", err)
	}
	if ts.Subscribers() != 0 {
		t.Errorf("Subscribers = %d after a forced shutdown", ts.Subscribers())
	}
	if err := ts.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
}

func TestRunShutsDown(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ts.Run(ctx) }()
	r := &reader{ws: mustDial(t, ts.url(""))}
	waitFor(t, "subscriber", func() bool { return ts.Subscribers() == 1 })
	cancel()
	r.expectClose(t, websocket.CloseGoingAway, "server shutting down")
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(describeDial(ts), "503") {
		t.Error("Run returned but the server still accepts")
	}
}

func describeDial(ts *testServer) string {
	_, resp, err := dial(context.Background(), ts.url(""), 0)
	if err == nil {
		return "connected"
	}
	return describe(resp)
}

// A log closed under the server (a wrong shutdown order) ends every stream
// with 1001 rather than leaving subscribers parked forever.
func TestLogClosedUnderServer(t *testing.T) {
	t.Parallel()
	l, err := eventlog.Open(eventlog.Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	stop := runLog(l)
	ts := startServer(t, l, Config{})
	appendN(t, l, 3, 3, identity)
	r := &reader{ws: mustDial(t, ts.url(cursorQuery(0)))}
	r.expectEvents(t, 1, 3)
	if err := errors.Join(stop(), l.Close()); err != nil {
		t.Fatal(err)
	}
	r.expectClose(t, websocket.CloseGoingAway, "event log closed")
	waitFor(t, "drop", func() bool {
		return ts.metric(t, "conflux_subscribe_drops_total", "log_closed") == 1
	})
}
