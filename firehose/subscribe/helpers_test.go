package subscribe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

const path = "/xrpc/com.atproto.sync.subscribeRepos"

// startLog opens and runs an event log; it is stopped and closed when the
// test ends (after every server started later, as cleanups run in reverse).
func startLog(t testing.TB, cfg eventlog.Config) *eventlog.Log {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	l, err := eventlog.Open(cfg)
	if err != nil {
		t.Fatalf("eventlog.Open: %v", err)
	}
	stop := runLog(l)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("eventlog Run: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Errorf("eventlog Close: %v", err)
		}
	})
	return l
}

// runLog runs l until stop is called; stop returns Run's error and may be
// called more than once.
func runLog(l *eventlog.Log) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
}

// testServer is a Server behind a real HTTP server on 127.0.0.1.
type testServer struct {
	*Server
	http *httptest.Server
	reg  *prometheus.Registry
}

func startServer(t testing.TB, l Log, cfg Config) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(reg)
	}
	s, err := New(cfg, l)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, s)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Server.Close: %v", err)
		}
		hs.Close()
	})
	return &testServer{Server: s, http: hs, reg: reg}
}

// url is the stream URL with the given raw query ("" for none).
func (ts *testServer) url(query string) string {
	u := "ws" + strings.TrimPrefix(ts.http.URL, "http") + path
	if query != "" {
		u += "?" + query
	}
	return u
}

func cursorQuery(cursor int64) string { return "cursor=" + strconv.FormatInt(cursor, 10) }

// metric returns the value of a counter or gauge, with a reason label if
// reason is not "".
func (ts *testServer) metric(t testing.TB, name, reason string) float64 {
	t.Helper()
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if reason != "" {
				match := false
				for _, lp := range m.GetLabel() {
					match = match || (lp.GetName() == "reason" && lp.GetValue() == reason)
				}
				if !match {
					continue
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{reason=%q} not found", name, reason)
	return 0
}

// waitFor polls cond until it holds; it fails the test after a generous
// limit (a hang, not a speed check).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dial connects to the stream; rcvBuf > 0 shrinks the client's socket
// receive buffer (set before connecting, so the window stays small).
func dial(ctx context.Context, url string, rcvBuf int) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	if rcvBuf > 0 {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			return errors.Join(err, serr)
		}}
		d.NetDialContext = nd.DialContext
	}
	return d.DialContext(ctx, url, nil)
}

func mustDial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	ws, resp, err := dial(t.Context(), url, 0)
	if err != nil {
		t.Fatalf("dial %s: %v (%s)", url, err, describe(resp))
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func describe(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("HTTP %d %s", resp.StatusCode, body)
}

// reader reads frames into a reused buffer.
type reader struct {
	ws  *websocket.Conn
	buf bytes.Buffer
}

// next returns the next binary message; it is valid until the next call.
func (r *reader) next() ([]byte, error) {
	typ, rd, err := r.ws.NextReader()
	if err != nil {
		return nil, err
	}
	if typ != websocket.BinaryMessage {
		return nil, fmt.Errorf("message of type %d, want binary", typ)
	}
	r.buf.Reset()
	if _, err := r.buf.ReadFrom(rd); err != nil {
		return nil, err
	}
	return r.buf.Bytes(), nil
}

// nextSeq reads the next frame and returns its seq; a frame without one
// (an #info or an error frame) is returned decoded instead.
func (r *reader) nextSeq() (int64, *firehose.Frame, error) {
	b, err := r.next()
	if err != nil {
		return 0, nil, err
	}
	seq, ok, err := firehose.PeekSeq(b)
	if err != nil {
		return 0, nil, fmt.Errorf("bad frame from server: %w", err)
	}
	if ok {
		return seq, nil, nil
	}
	f, err := firehose.DecodeFrame(b)
	if err != nil {
		return 0, nil, fmt.Errorf("bad frame from server: %w", err)
	}
	return 0, &f, nil
}

// expectEvents reads frames with seqs from..to in order.
func (r *reader) expectEvents(t testing.TB, from, to int64) {
	t.Helper()
	for want := from; want <= to; want++ {
		seq, f, err := r.nextSeq()
		if err != nil {
			t.Fatalf("reading seq %d: %v", want, err)
		}
		if f != nil || seq != want {
			t.Fatalf("got seq %d (frame %+v), want seq %d", seq, f, want)
		}
	}
}

// expectFrame reads a frame without a seq and checks its type and name.
func (r *reader) expectFrame(t testing.TB, op int64, name string) {
	t.Helper()
	seq, f, err := r.nextSeq()
	if err != nil {
		t.Fatalf("reading %s frame: %v", name, err)
	}
	if f == nil {
		t.Fatalf("got event seq %d, want %s frame", seq, name)
	}
	var got string
	switch m := f.Msg.(type) {
	case *firehose.ErrorFrame:
		got = m.Error
	case *firehose.Info:
		got = m.Name
	}
	if f.Op != op || got != name {
		t.Fatalf("got frame op %d %T %q, want op %d %q", f.Op, f.Msg, got, op, name)
	}
}

// expectClose reads until the close frame and checks its code and text.
func (r *reader) expectClose(t testing.TB, code int, text string) {
	t.Helper()
	_, err := r.next()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want close %d", err, code)
	}
	if ce.Code != code || ce.Text != text {
		t.Fatalf("got close %d %q, want %d %q", ce.Code, ce.Text, code, text)
	}
}

// identity is a small real event.
func identity(i int) eventlog.Entry {
	return &firehose.Identity{DID: "did:plc:" + strconv.Itoa(i)}
}

// bigIdentity is an event of about size bytes.
func bigIdentity(size int) eventlog.Entry {
	return &firehose.Identity{DID: "did:plc:big", Handle: strings.Repeat("h", size)}
}

// appendN appends n events made by mk, in batches of up to batch.
func appendN(t testing.TB, l *eventlog.Log, n, batch int, mk func(i int) eventlog.Entry) {
	t.Helper()
	es := make([]eventlog.Entry, 0, batch)
	for i := 0; i < n; {
		es = es[:0]
		for ; len(es) < batch && i < n; i++ {
			es = append(es, mk(i))
		}
		if _, err := l.AppendBatch(context.Background(), es); err != nil {
			t.Fatalf("AppendBatch: %v", err)
		}
	}
}

// xrpcError decodes an XRPC error body.
func xrpcError(t testing.TB, body []byte) (name, message string) {
	t.Helper()
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Error, e.Message
}
