package subscribe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	if _, err := New(Config{}, nil); !errors.Is(err, errNoLog) {
		t.Errorf("New(nil log) = %v, want errNoLog", err)
	}
	for _, cfg := range []Config{{WriteTimeout: -1}, {PingInterval: -1}, {ReadLimit: -1}, {BatchEvents: -1}} {
		if _, err := New(cfg, l); err == nil {
			t.Errorf("New(%+v) accepted a negative value", cfg)
		}
	}
	if _, err := New(Config{}, l); err != nil {
		t.Errorf("New(zero config): %v", err)
	}
}

func TestCursorReplayThenLive(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{})
	appendN(t, l, 50, 7, identity)

	for _, tc := range []struct {
		name  string
		query string
		first int64
	}{
		{"cursor 0 replays everything", cursorQuery(0), 1},
		{"cursor inside the window is exclusive", cursorQuery(20), 21},
		{"cursor at head is live", cursorQuery(50), 51},
		{"no cursor is live", "", 51},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &reader{ws: mustDial(t, ts.url(tc.query))}
			if tc.first <= 50 {
				r.expectEvents(t, tc.first, 50)
			}
			// Live: keep appending until something arrives, since when the
			// server read the head is not observable.
			stop := keepAppending(t, l)
			defer stop()
			r.ws.SetReadDeadline(time.Now().Add(time.Minute))
			seq, f, err := r.nextSeq()
			if err != nil || f != nil {
				t.Fatalf("live frame: seq %d frame %+v err %v", seq, f, err)
			}
			if seq <= 50 {
				t.Fatalf("live frame seq %d, want > 50", seq)
			}
		})
	}
}

// keepAppending appends an event every few milliseconds until stop is
// called.
func keepAppending(t testing.TB, l *eventlog.Log) (stop func()) {
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			appendOne(t, l, i)
			select {
			case <-quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func appendOne(t testing.TB, l *eventlog.Log, i int) {
	if _, err := l.Append(context.Background(), identity(i)); err != nil {
		t.Errorf("Append: %v", err)
	}
}

func TestFutureCursor(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{})
	appendN(t, l, 5, 5, identity)
	for _, cursor := range []int64{6, 1 << 62} {
		r := &reader{ws: mustDial(t, ts.url(cursorQuery(cursor)))}
		r.expectFrame(t, firehose.OpError, firehose.ErrNameFutureCursor)
		r.expectClose(t, websocket.ClosePolicyViolation, firehose.ErrNameFutureCursor)
	}
	waitFor(t, "drops", func() bool { return ts.metric(t, "conflux_subscribe_drops_total", "future_cursor") == 2 })
	// A cursor equal to the head is not in the future.
	r := &reader{ws: mustDial(t, ts.url(cursorQuery(5)))}
	appendOne(t, l, 6)
	r.expectEvents(t, 6, 6)
}

func TestOutdatedCursor(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := startLog(t, eventlog.Config{NoSync: true, Retention: time.Hour, Now: clock.Now})
	ts := startServer(t, l, Config{})
	appendN(t, l, 60, 10, identity)
	clock.advance(2 * time.Hour)
	appendN(t, l, 40, 10, identity)
	if n, err := l.Trim(t.Context()); err != nil || n != 60 {
		t.Fatalf("Trim = %d, %v; want 60 trimmed", n, err)
	}
	if l.Oldest() != 61 {
		t.Fatalf("Oldest = %d, want 61", l.Oldest())
	}
	for _, cursor := range []int64{0, 10, 59} {
		r := &reader{ws: mustDial(t, ts.url(cursorQuery(cursor)))}
		r.expectFrame(t, firehose.OpMessage, firehose.InfoOutdatedCursor)
		r.expectEvents(t, 61, 100)
	}
	// Oldest()-1 is inside the window: no #info.
	r := &reader{ws: mustDial(t, ts.url(cursorQuery(60)))}
	r.expectEvents(t, 61, 100)
	if got := ts.metric(t, "conflux_subscribe_outdated_cursors_total", ""); got != 3 {
		t.Errorf("outdated cursors = %v, want 3", got)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{})
	httpURL := ts.http.URL + path
	wsHeaders := func(h http.Header) {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "websocket")
		h.Set("Sec-WebSocket-Version", "13")
		h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	for _, tc := range []struct {
		name, method, query string
		upgrade             bool
		status              int
		reason              string
	}{
		{"cursor abc", "GET", "cursor=abc", true, 400, "bad_cursor"},
		{"cursor -1", "GET", "cursor=-1", true, 400, "bad_cursor"},
		{"cursor empty", "GET", "cursor=", true, 400, "bad_cursor"},
		{"cursor 1.5", "GET", "cursor=1.5", true, 400, "bad_cursor"},
		{"cursor overflow", "GET", "cursor=9223372036854775808", true, 400, "bad_cursor"},
		{"cursor twice", "GET", "cursor=1&cursor=2", true, 400, "bad_cursor"},
		{"POST", "POST", "", true, 405, "bad_method"},
		{"no upgrade", "GET", "cursor=0", false, 426, "no_upgrade"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, httpURL+"?"+tc.query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.upgrade {
			wsHeaders(req.Header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: HTTP %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		if name, msg := xrpcError(t, body); name != "InvalidRequest" || msg == "" {
			t.Errorf("%s: error %q %q, want InvalidRequest with a message", tc.name, name, msg)
		}
	}
	for reason, want := range map[string]float64{"bad_cursor": 6, "bad_method": 1, "no_upgrade": 1} {
		if got := ts.metric(t, "conflux_subscribe_rejects_total", reason); got != want {
			t.Errorf("rejects{%s} = %v, want %v", reason, got, want)
		}
	}
	if ts.Subscribers() != 0 {
		t.Errorf("Subscribers = %d after refusals", ts.Subscribers())
	}
}

func TestPerIPLimit(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	ts := startServer(t, l, Config{MaxConnsPerIP: 2})
	a := mustDial(t, ts.url(""))
	mustDial(t, ts.url(""))
	_, resp, err := dial(t.Context(), ts.url(""), 0)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v (%s), want HTTP 429", err, describe(resp))
	}
	body, _ := io.ReadAll(resp.Body)
	if name, _ := xrpcError(t, body); name != "RateLimitExceeded" {
		t.Errorf("429 error name %q", name)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// A slot frees when a connection ends.
	a.Close()
	waitFor(t, "slot", func() bool { return ts.Subscribers() == 1 })
	mustDial(t, ts.url(""))
}

func TestFramesWrittenAsStored(t *testing.T) {
	t.Parallel()
	l := startLog(t, eventlog.Config{NoSync: true})
	// Sizes around each WebSocket length form and around one writev chunk.
	sizes := []int{1, 125, 126, 127, 65535, 65536, 70000, maxWriteBytes - 1, maxWriteBytes + 1, 3 << 20}
	var want [][]byte
	for i, n := range sizes {
		f := bytes.Repeat([]byte{byte(i + 1)}, n)
		want = append(want, f)
		if _, err := l.Append(t.Context(), rawEntry(f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, batch := range []int{1, 3, 512} {
		ts := startServer(t, l, Config{BatchEvents: batch})
		r := &reader{ws: mustDial(t, ts.url(cursorQuery(0)))}
		r.ws.SetReadLimit(-1)
		for i, w := range want {
			got, err := r.next()
			if err != nil {
				t.Fatalf("batch %d, frame %d: %v", batch, i, err)
			}
			if !bytes.Equal(got, w) {
				t.Fatalf("batch %d, frame %d: got %d bytes, want %d bytes as stored", batch, i, len(got), len(w))
			}
		}
	}
}

// rawEntry appends its bytes as the frame, whatever they are: the server
// must send a stored frame byte for byte.
type rawEntry []byte

func (e rawEntry) Frame(int64, time.Time) ([]byte, error) { return e, nil }
