package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
)

// testDIDs is the number of distinct accounts in generated streams.
const testDIDs = 23

// identityFrames returns the encoded #identity frames of seqs 1..n (index
// i holds seq i+1), spread over testDIDs accounts, with event times one
// millisecond apart.
func identityFrames(t testing.TB, n int) [][]byte {
	t.Helper()
	base := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	frames := make([][]byte, n)
	for i := range frames {
		seq := int64(i + 1)
		f, err := firehose.EncodeFrame(&firehose.Identity{
			Seq:  seq,
			DID:  didOf(seq),
			Time: firehose.FormatTime(base.Add(time.Duration(i) * time.Millisecond)),
		})
		if err != nil {
			t.Fatal(err)
		}
		frames[i] = f
	}
	return frames
}

func didOf(seq int64) string { return fmt.Sprintf("did:plc:acct%02d", seq%testDIDs) }

func mustEncode(t testing.TB, m firehose.Message) []byte {
	t.Helper()
	b, err := firehose.EncodeFrame(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// conn is one server-side connection of a fakeServer.
type conn struct {
	*websocket.Conn
	N          int   // 0 for the first connection
	Cursor     int64 // NoCursor when the client sent none
	clientGone chan struct{}
	done       <-chan struct{}
}

// sendFrom writes frames[from:to] (seqs from+1..to), stopping early if the
// client went away.
func (c *conn) sendFrom(frames [][]byte, from, to int) error {
	for i := from; i < to && i < len(frames); i++ {
		if err := c.WriteMessage(websocket.BinaryMessage, frames[i]); err != nil {
			return err
		}
	}
	return nil
}

// serveRest writes every frame after the client's cursor, then waits until
// the client closes or the server stops.
func (c *conn) serveRest(frames [][]byte) {
	if c.sendFrom(frames, int(max(c.Cursor, 0)), len(frames)) == nil {
		c.wait()
	}
}

// wait blocks until the client closes the connection or the server stops.
func (c *conn) wait() {
	select {
	case <-c.clientGone:
	case <-c.done:
	}
}

// sendError writes an error frame and closes with 1008, as a PDS does.
func (c *conn) sendError(t testing.TB, name, msg string) {
	_ = c.WriteMessage(websocket.BinaryMessage, mustEncode(t, &firehose.ErrorFrame{Error: name, Message: msg}))
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, name), time.Now().Add(time.Second))
}

// fakeServer is a subscribeRepos endpoint on 127.0.0.1 whose every
// connection is driven by a script, so tests can inject any fault.
type fakeServer struct {
	t      testing.TB
	srv    *httptest.Server
	script func(c *conn)
	// reject, if set, may refuse a connection before the upgrade by
	// writing a response and returning true.
	reject func(w http.ResponseWriter, r *http.Request, n int) bool
	// noPong, if set, says which connections ignore the client's pings.
	noPong func(n int) bool
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	cursors []int64 // per accepted connection
	active  map[*websocket.Conn]struct{}
	tries   int // requests, accepted or not
}

func newFakeServer(t testing.TB, script func(c *conn)) *fakeServer {
	s := &fakeServer{t: t, script: script, done: make(chan struct{}), active: map[*websocket.Conn]struct{}{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.close)
	return s
}

// URL is the server's base URL (http://127.0.0.1:port): the consumer
// converts it.
func (s *fakeServer) URL() string { return s.srv.URL }

func (s *fakeServer) close() {
	close(s.done)
	s.mu.Lock()
	for c := range s.active {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.srv.Close()
}

// Cursors returns the cursor of every accepted connection so far.
func (s *fakeServer) Cursors() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.cursors...)
}

func (s *fakeServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Endpoint {
		http.Error(w, "wrong path "+r.URL.Path, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	try := s.tries
	s.tries++
	s.mu.Unlock()
	if s.reject != nil && s.reject(w, r, try) {
		return
	}
	cursor := NoCursor
	if v := r.URL.Query().Get("cursor"); v != "" {
		var err error
		if cursor, err = strconv.ParseInt(v, 10, 64); err != nil || cursor < 0 {
			http.Error(w, "bad cursor", http.StatusBadRequest)
			return
		}
	}
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		_ = ws.Close()
		return
	default:
	}
	n := len(s.cursors)
	s.cursors = append(s.cursors, cursor)
	s.active[ws] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	c := &conn{Conn: ws, N: n, Cursor: cursor, clientGone: make(chan struct{}), done: s.done}
	if s.noPong != nil && s.noPong(n) {
		ws.SetPingHandler(func(string) error { return nil })
	}
	// The one reader: answers pings (gorilla's default handler) and
	// notices the client leaving.
	go func() {
		defer close(c.clientGone)
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return
			}
		}
	}()
	s.script(c)
	_ = ws.Close() // abrupt: no close frame unless the script sent one
	<-c.clientGone
	s.mu.Lock()
	delete(s.active, ws)
	s.mu.Unlock()
}

// recorder is a Handler that records seqs and cancels when it has seen
// the last one.
type recorder struct {
	mu     sync.Mutex
	seqs   []int64
	last   int64
	cancel context.CancelFunc
	hook   func(ev Event) error // optional, runs first
}

func (r *recorder) HandleEvent(ctx context.Context, ev Event) error {
	if r.hook != nil {
		if err := r.hook(ev); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seqs = append(r.seqs, ev.Seq)
	if ev.Seq == r.last && r.cancel != nil {
		r.cancel()
	}
	return nil
}

func (r *recorder) Seqs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.seqs...)
}

// LastSeq is the last recorded seq (0 if none).
func (r *recorder) LastSeq() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seqs) == 0 {
		return 0
	}
	return r.seqs[len(r.seqs)-1]
}

// fastConfig is a Config with test-sized backoff.
func fastConfig(url string, h Handler) Config {
	return Config{URL: url, Handler: h, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

// runConsumer runs c until it returns or the test's deadline nears.
func runConsumer(t testing.TB, ctx context.Context, c *Consumer) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("consumer did not finish within 60 s")
		return errors.New("unreachable")
	}
}

// wantSeqs checks that got is exactly 1..n.
func wantSeqs(t testing.TB, got []int64, n int) {
	t.Helper()
	if len(got) != n {
		t.Errorf("handler saw %d events, want %d", len(got), n)
	}
	for i, s := range got {
		if s != int64(i+1) {
			t.Fatalf("event %d has seq %d, want %d (got %v...)", i, s, i+1, got[:min(len(got), i+5)])
		}
	}
}
