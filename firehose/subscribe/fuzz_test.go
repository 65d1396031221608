package subscribe

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

// FuzzCursorQuery drives the refusals before the upgrade with arbitrary
// query strings. The request carries a full WebSocket handshake, so a query
// the server accepts gets as far as the upgrade, which fails on a
// ResponseRecorder (it cannot be hijacked). Either way the answer is an
// XRPC JSON error, 400 exactly when the cursor is unusable, and nothing
// stays registered.
func FuzzCursorQuery(f *testing.F) {
	for _, q := range []string{
		"", "cursor=0", "cursor=1", "cursor=-1", "cursor=abc", "cursor=", "cursor=1.5",
		"cursor=9223372036854775807", "cursor=9223372036854775808", "cursor=+7", "cursor=007",
		"cursor=1&cursor=2", "cursor=%zz", "cursor=%31", "x=1&cursor=3", "cursor=0x10", "cursor= 1",
		"cursor=1e3", "cursor=\x00", ";cursor=1", "cursor=１",
	} {
		f.Add(q)
	}
	l, err := eventlog.Open(eventlog.Config{Dir: f.TempDir(), NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = l.Close() })
	s, err := New(Config{}, l)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.RawQuery = query
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)

		name, msg := xrpcError(t, rec.Body.Bytes())
		if name == "" || msg == "" {
			t.Fatalf("query %q: error body %q", query, rec.Body.Bytes())
		}
		vals := req.URL.Query()["cursor"]
		cursor, live, perr := parseCursor(vals)
		switch {
		case perr != nil && rec.Code != http.StatusBadRequest:
			t.Fatalf("query %q: cursor refused (%v) but HTTP %d", query, perr, rec.Code)
		case perr == nil && rec.Code == http.StatusBadRequest:
			t.Fatalf("query %q: cursor accepted but HTTP 400", query)
		case perr == nil && live != (len(vals) == 0):
			t.Fatalf("query %q: live %v with cursor values %q", query, live, vals)
		case perr == nil && !live:
			// An accepted cursor is the integer the client wrote.
			if n, err := strconv.ParseInt(vals[0], 10, 64); err != nil || n != cursor || cursor < 0 {
				t.Fatalf("query %q: cursor %d from %q", query, cursor, vals[0])
			}
		}
		if n := s.Subscribers(); n != 0 {
			t.Fatalf("query %q: %d connections left registered", query, n)
		}
	})
}

// maskedFrame is a client frame (masked, as clients must send).
func maskedFrame(b0 byte, payload []byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = binary.BigEndian.AppendUint16(append(out, 0x80|126), uint16(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, 0x80|127), uint64(n))
	}
	key := [4]byte{1, 2, 3, 4}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// FuzzClientBytes sends arbitrary bytes where client frames go, on a real
// connection, then half-closes. The server must answer only with well-formed
// server frames (gorilla's client checks them), end the connection, and
// release it.
func FuzzClientBytes(f *testing.F) {
	closeCode := func(code uint16, text string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, code), text...)
	}
	for _, seed := range [][]byte{
		nil,
		maskedFrame(0x81, []byte("hello")),
		maskedFrame(0x82, []byte{0xff, 0, 1}),
		maskedFrame(0x89, []byte("ping payload")),
		maskedFrame(0x8a, []byte("unsolicited pong")),
		maskedFrame(0x88, closeCode(1000, "bye")),
		maskedFrame(0x88, closeCode(1005, "")),
		maskedFrame(0x88, closeCode(999, "bad code")),
		maskedFrame(0x88, []byte{3}),
		maskedFrame(0x88, nil),
		append(maskedFrame(0x02, []byte("frag")), maskedFrame(0x80, []byte("ment"))...),
		maskedFrame(0x80, []byte("continuation without a start")),
		maskedFrame(0xf2, []byte("reserved bits")),
		maskedFrame(0x83, []byte("reserved opcode")),
		maskedFrame(0x09, []byte("fragmented ping")),
		maskedFrame(0x89, make([]byte, 126)),
		{0x82, 0x05, 'h', 'e', 'l', 'l', 'o'}, // unmasked
		{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4},
		maskedFrame(0x82, make([]byte, 70_000)), // over the read limit
		append(maskedFrame(0x89, []byte("a")), maskedFrame(0x89, []byte("b"))...),
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	l, err := eventlog.Open(eventlog.Config{Dir: dir, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	stop := runLog(l)
	f.Cleanup(func() {
		_ = stop()
		_ = l.Close()
	})
	s, err := New(Config{MaxConnsPerIP: -1, CloseWait: 100 * time.Millisecond}, l)
	if err != nil {
		f.Fatal(err)
	}
	hs := httptest.NewServer(s)
	f.Cleanup(func() {
		_ = s.Close()
		hs.Close()
	})
	url := "ws" + hs.URL[len("http"):]

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		ws, resp, err := dial(ctx, url, 0)
		if err != nil {
			t.Fatalf("dial: %v (%s)", err, describe(resp))
		}
		defer ws.Close()
		nc := ws.NetConn().(*net.TCPConn)
		if err := nc.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		// The server may close first (a protocol error): a failed write is fine.
		if _, err := nc.Write(data); err == nil {
			_ = nc.CloseWrite()
		}
		ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			_, _, err := ws.NextReader()
			if err == nil {
				t.Fatal("the server sent a data frame on an empty log")
			}
			var ce *websocket.CloseError
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server did not end the connection after the client half-closed")
			}
			if !errors.As(err, &ce) && !errors.As(err, &ne) && !errors.Is(err, io.EOF) {
				t.Fatalf("reading the server's frames: %v", err)
			}
			break
		}
		ws.Close()
		deadline := time.Now().Add(20 * time.Second)
		for s.Subscribers() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("connection never released")
			}
			time.Sleep(time.Millisecond)
		}
	})
}
