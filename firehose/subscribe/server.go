package subscribe

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
)

// XRPC error names of the refusals before the upgrade (the names of the
// reference implementations' generic response types).
const (
	xrpcInvalidRequest     = "InvalidRequest"
	xrpcRateLimitExceeded  = "RateLimitExceeded"
	xrpcNotEnoughResources = "NotEnoughResources"
)

// Messages of the pre-encoded frames, as the reference PDS words them.
const (
	msgOutdatedCursor  = "Requested cursor exceeded limit. Possibly missing events"
	msgFutureCursor    = "Cursor in the future."
	msgConsumerTooSlow = "Stream consumer too slow"
)

// Server serves com.atproto.sync.subscribeRepos from a Log. Mount it (it is
// an http.Handler) at /xrpc/com.atproto.sync.subscribeRepos.
type Server struct {
	cfg      Config
	events   Log
	upgrader websocket.Upgrader

	// Frames every subscriber may get, encoded once.
	outdated, future, tooSlow []byte

	stopping chan struct{} // closed when shutdown starts: writers close with 1001
	forced   chan struct{} // closed when the shutdown budget is spent
	wg       sync.WaitGroup

	mu struct {
		sync.Mutex
		stopping, forced bool
		conns            map[*conn]struct{}
		perIP            map[string]int
	}
}

// New validates cfg and returns a Server streaming from events. It starts
// nothing: connections are served by ServeHTTP.
func New(cfg Config, events Log) (*Server, error) {
	if events == nil {
		return nil, errNoLog
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		events:   events,
		stopping: make(chan struct{}),
		forced:   make(chan struct{}),
	}
	s.upgrader = websocket.Upgrader{
		// The firehose is public and read-only: any origin may read it.
		CheckOrigin: func(*http.Request) bool { return true },
		// The server writes through its own frameWriter, never gorilla's
		// buffered writer; an empty pool keeps gorilla from allocating one.
		WriteBufferPool: &sync.Pool{},
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, status, xrpcInvalidRequest, reason.Error())
		},
	}
	for _, f := range []struct {
		dst *[]byte
		msg firehose.Message
	}{
		{&s.outdated, &firehose.Info{Name: firehose.InfoOutdatedCursor, Message: msgOutdatedCursor}},
		{&s.future, &firehose.ErrorFrame{Error: firehose.ErrNameFutureCursor, Message: msgFutureCursor}},
		{&s.tooSlow, &firehose.ErrorFrame{Error: firehose.ErrNameConsumerTooSlow, Message: msgConsumerTooSlow}},
	} {
		if *f.dst, err = firehose.EncodeFrame(f.msg); err != nil {
			return nil, fmt.Errorf("subscribe: encode fixed frame: %w", err)
		}
	}
	s.mu.conns = make(map[*conn]struct{})
	s.mu.perIP = make(map[string]int)
	return s, nil
}

// ServeHTTP checks the request, upgrades it and streams until the
// connection ends. It returns after the connection is closed: the request's
// goroutine is the connection's writer, so do not wrap the Server in
// handlers that bound a request's duration (http.TimeoutHandler).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := s.cfg.Metrics
	if r.Method != http.MethodGet {
		m.rejected(rejectMethod)
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, xrpcInvalidRequest, "subscribeRepos takes GET")
		return
	}
	cursor, live, err := parseCursor(r.URL.Query()["cursor"])
	if err != nil {
		m.rejected(rejectBadCursor)
		writeError(w, http.StatusBadRequest, xrpcInvalidRequest, err.Error())
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		m.rejected(rejectNoUpgrade)
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		writeError(w, http.StatusUpgradeRequired, xrpcInvalidRequest, "subscribeRepos is a WebSocket stream: send Upgrade: websocket")
		return
	}
	c, reject := s.admit(s.cfg.ClientIP(r))
	switch reject {
	case rejectShutdown:
		m.rejected(reject)
		writeError(w, http.StatusServiceUnavailable, xrpcNotEnoughResources, "server is shutting down")
		return
	case rejectIPLimit:
		m.rejected(reject)
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, xrpcRateLimitExceeded,
			fmt.Sprintf("too many connections from this address (limit %d)", s.cfg.MaxConnsPerIP))
		return
	}
	defer s.release(c)
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered (its Error) or the socket is gone.
		m.rejected(rejectHandshake)
		s.cfg.Logger.Debug("upgrade failed", "host", c.ip, "err", err)
		return
	}
	if !s.attach(c, ws.NetConn()) {
		// Forced shutdown raced the upgrade: the socket is already closed.
		m.rejected(rejectShutdown)
		return
	}
	c.serve(ws, cursor, live)
}

// parseCursor reads the cursor parameter: absent means live; otherwise an
// integer >= 0.
func parseCursor(vals []string) (cursor int64, live bool, err error) {
	if len(vals) == 0 {
		return 0, true, nil
	}
	if len(vals) > 1 {
		return 0, false, fmt.Errorf("cursor given %d times", len(vals))
	}
	n, err := strconv.ParseInt(vals[0], 10, 64)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("cursor must be an integer >= 0, got %q", truncate(vals[0], 40))
	}
	return n, false, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// writeError writes an XRPC error body.
func writeError(w http.ResponseWriter, status int, name, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	// Nothing useful can be done if the client went away mid-body.
	_ = json.NewEncoder(w).Encode(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{name, message})
}

// admit registers a connection from ip, or says why it may not have one.
func (s *Server) admit(ip string) (*conn, rejectReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stopping {
		return nil, rejectShutdown
	}
	if s.cfg.MaxConnsPerIP > 0 && s.mu.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return nil, rejectIPLimit
	}
	s.mu.perIP[ip]++
	c := newConn(s, ip)
	s.mu.conns[c] = struct{}{}
	// Added under mu while not stopping, so every Add happens before
	// Shutdown's Wait.
	s.wg.Add(1)
	return c, numRejectReasons
}

// attach records c's socket so that a forced shutdown can close it. It
// returns false (and closes nc) when the shutdown was already forced.
func (s *Server) attach(c *conn, nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.forced {
		_ = nc.Close()
		return false
	}
	c.nc = nc
	return true
}

func (s *Server) release(c *conn) {
	s.mu.Lock()
	delete(s.mu.conns, c)
	if s.mu.perIP[c.ip]--; s.mu.perIP[c.ip] <= 0 {
		delete(s.mu.perIP, c.ip)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// Subscribers returns the number of connections admitted and not yet ended.
func (s *Server) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.conns)
}

// Run waits for ctx to end, then shuts down within Config.ShutdownTimeout.
// It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown refuses new connections and sends every subscriber a close frame
// (1001, going away), then waits for the connections to end. When ctx ends
// first it closes the remaining sockets, waits for their goroutines, and
// returns ctx's error. Calling it again (or after Close) is harmless.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginStop()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.force()
		<-done
		return fmt.Errorf("subscribe shutdown: %w", context.Cause(ctx))
	}
}

// Close closes every connection at once, without close frames, and waits
// for their goroutines. It is idempotent.
func (s *Server) Close() error {
	s.beginStop()
	s.force()
	s.wg.Wait()
	return nil
}

func (s *Server) beginStop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.stopping {
		s.mu.stopping = true
		close(s.stopping)
	}
}

// force closes every socket: a writer blocked in a write or waiting for a
// close reply returns at once.
func (s *Server) force() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.forced {
		return
	}
	s.mu.forced = true
	close(s.forced)
	for c := range s.mu.conns {
		if c.nc != nil {
			_ = c.nc.Close()
		}
	}
}
