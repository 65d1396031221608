package subscribe

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

// batchBytes is the size a read batch aims at: the batch limit adapts to
// the frames' size so that replaying big commits does not hold BatchEvents
// of them at once.
const batchBytes = 1 << 20

// maxMissedPings is how many idle pings in a row may go unanswered (each
// gets a PingInterval) before the connection is given up.
const maxMissedPings = 2

// conn is one subscriber. Its writer runs on the ServeHTTP goroutine; its
// reader on a goroutine the writer waits for.
type conn struct {
	s  *Server
	ip string

	nc net.Conn        // set by Server.attach, before serve
	ws *websocket.Conn // used for reading only
	w  frameWriter

	readerDone chan struct{} // closed when the reader returns
	pingReq    chan string   // the client's latest unanswered ping
	pongs      atomic.Uint64 // pongs received
	peerClose  atomic.Int32  // the close code the client sent; 0 if none
	readErr    error         // why the reader stopped; read after readerDone

	// The writer's own state.
	cursor      int64 // last seq sent (or the start cursor)
	delivered   bool  // an event was sent: a trim from now on is ConsumerTooSlow
	informed    bool  // #info OutdatedCursor was sent
	limit       int   // events per read
	lastWrite   time.Time
	lastEvents  time.Time // when events were last written (zero: never), for WriteGap
	lastPing    bool      // a ping was sent
	missedPings int       // pings in a row that got no pong by the next one
	pongsAtPing uint64    // pongs seen when the last ping went out
}

// ending says how and why a connection ends.
type ending struct {
	reason endReason
	frame  []byte // an error frame to send first; nil for none
	code   int    // the close code to send; 0 when the socket is not usable
	text   string // the close reason
	err    error  // for the log line
}

func newConn(s *Server, ip string) *conn {
	return &conn{
		s:          s,
		ip:         ip,
		readerDone: make(chan struct{}),
		pingReq:    make(chan string, 1),
		limit:      s.cfg.BatchEvents,
	}
}

// serve streams to the upgraded connection until it ends, then closes it
// and waits for the reader.
func (c *conn) serve(ws *websocket.Conn, cursor int64, live bool) {
	c.ws = ws
	c.w = frameWriter{nc: c.nc, timeout: c.s.cfg.WriteTimeout}
	m := c.s.cfg.Metrics
	m.connected(1)
	defer m.connected(-1)
	start := time.Now()
	go c.readLoop()
	if live {
		cursor = c.s.events.Head()
	}
	c.s.cfg.Logger.Debug("subscriber connected", "host", c.ip, "cursor", cursor, "live", live)
	e := c.stream(cursor)
	c.finish(e)
	m.dropped(e.reason)
	if e.err == nil && e.reason == endClientClosed {
		e.err = c.readErr
	}
	c.s.cfg.Logger.Log(context.Background(), e.reason.level(), "subscriber disconnected",
		"host", c.ip, "reason", e.reason.String(), "seq", c.cursor, "took", time.Since(start), "err", e.err)
}

// level is how loud a connection's end is logged: slow consumers and our own
// failures are worth a line; ordinary goodbyes are Debug.
func (r endReason) level() slog.Level {
	switch r {
	case endLogError:
		return slog.LevelError
	case endConsumerTooSlow, endWriteTimeout, endPingTimeout:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// stream is the writer loop: read from the cursor, write, advance; park on
// the log's change channel when caught up. It returns how the connection
// should end.
func (c *conn) stream(cursor int64) ending {
	c.cursor = cursor
	if head := c.s.events.Head(); cursor > head {
		return ending{reason: endFutureCursor, frame: c.s.future, code: closePolicy, text: firehose.ErrNameFutureCursor}
	}
	c.lastWrite = time.Now()
	buf := make([]eventlog.Event, 0, c.s.cfg.BatchEvents)
	ping := time.NewTimer(c.s.cfg.PingInterval)
	defer ping.Stop()
	for {
		if e, done := c.poll(); done {
			return e
		}
		// Taken before the read, so that an append after the read wakes us.
		changed := c.s.events.Changed()
		batch, err := c.s.events.ReadFrom(c.cursor, buf[:0], c.limit)
		if err != nil {
			if e, done := c.readFailed(err); done {
				return e
			}
			continue
		}
		if len(batch) == 0 {
			if e, done := c.park(changed, ping); done {
				return e
			}
			continue
		}
		n, err := c.w.events(batch)
		if err != nil {
			clear(batch)
			return c.writeFailed(err)
		}
		c.s.cfg.Metrics.sent(len(batch), n)
		c.cursor, c.delivered, c.lastWrite = batch[len(batch)-1].Seq, true, time.Now()
		c.lastEvents = c.lastWrite
		c.limit = min(c.s.cfg.BatchEvents, max(1, batchBytes*len(batch)/max(n, 1)))
		clear(batch) // let trimmed frames be collected
	}
}

// readFailed handles a failed read: a trimmed cursor before the first event
// is an outdated cursor (tell the client once, jump to the oldest event);
// after it, a consumer that fell out of the window.
func (c *conn) readFailed(err error) (ending, bool) {
	switch {
	case errors.Is(err, eventlog.ErrTrimmed) && c.delivered:
		return ending{reason: endConsumerTooSlow, frame: c.s.tooSlow, code: closePolicy, text: firehose.ErrNameConsumerTooSlow}, true
	case errors.Is(err, eventlog.ErrTrimmed):
		if !c.informed {
			if werr := c.w.message(opBinary, c.s.outdated); werr != nil {
				return c.writeFailed(werr), true
			}
			c.informed, c.lastWrite = true, time.Now()
			c.s.cfg.Metrics.sent(1, len(c.s.outdated))
			c.s.cfg.Metrics.outdatedCursor()
		}
		// Oldest()-1 is above the cursor (that is what trimmed means), and
		// reading from it is valid unless the window moves again.
		c.cursor = c.s.events.Oldest() - 1
		return ending{}, false
	case errors.Is(err, eventlog.ErrClosed):
		return ending{reason: endLogClosed, code: closeGoingAway, text: "event log closed"}, true
	default:
		return ending{reason: endLogError, code: closeInternal, text: "internal error", err: err}, true
	}
}

// poll handles what may have happened while the writer was busy: a
// shutdown, the client leaving, a ping to answer.
func (c *conn) poll() (ending, bool) {
	select {
	case <-c.s.stopping:
		return c.shutdownEnding(), true
	case <-c.readerDone:
		return c.clientEnding(), true
	case data := <-c.pingReq:
		if err := c.w.control(opPong, data); err != nil {
			return c.writeFailed(err), true
		}
	default:
	}
	return ending{}, false
}

// park waits until the log changes, pinging the client while idle.
func (c *conn) park(changed <-chan struct{}, ping *time.Timer) (ending, bool) {
	ping.Reset(max(0, c.s.cfg.PingInterval-time.Since(c.lastWrite)))
	for {
		select {
		case <-changed:
			return c.gap(ping)
		case <-c.s.stopping:
			return c.shutdownEnding(), true
		case <-c.readerDone:
			return c.clientEnding(), true
		case data := <-c.pingReq:
			if err := c.w.control(opPong, data); err != nil {
				return c.writeFailed(err), true
			}
		case <-ping.C:
			if e, done := c.ping(); done {
				return e, true
			}
			ping.Reset(c.s.cfg.PingInterval)
		}
	}
}

// gap waits out the rest of WriteGap since events were last written (see
// Config.WriteGap; the first events after connecting go at once), still
// answering the client and a shutdown.
func (c *conn) gap(ping *time.Timer) (ending, bool) {
	if c.s.cfg.WriteGap <= 0 || c.lastEvents.IsZero() {
		return ending{}, false
	}
	wait := c.s.cfg.WriteGap - time.Since(c.lastEvents)
	if wait <= 0 {
		return ending{}, false
	}
	// The ping timer is free while we are busy: reuse it rather than
	// allocating one per wake-up.
	if !ping.Stop() {
		select {
		case <-ping.C:
		default:
		}
	}
	ping.Reset(wait)
	for {
		select {
		case <-ping.C:
			return ending{}, false
		case <-c.s.stopping:
			return c.shutdownEnding(), true
		case <-c.readerDone:
			return c.clientEnding(), true
		case data := <-c.pingReq:
			if err := c.w.control(opPong, data); err != nil {
				return c.writeFailed(err), true
			}
		}
	}
}

// ping sends an idle ping, or gives up on a peer that let maxMissedPings
// pings in a row go unanswered: it is gone without a FIN, and not worth a
// close handshake.
func (c *conn) ping() (ending, bool) {
	if pongs := c.pongs.Load(); c.lastPing && pongs == c.pongsAtPing {
		c.missedPings++
	} else {
		c.missedPings = 0
	}
	if c.missedPings >= maxMissedPings {
		return ending{reason: endPingTimeout}, true
	}
	c.lastPing, c.pongsAtPing = true, c.pongs.Load()
	if err := c.w.control(opPing, ""); err != nil {
		return c.writeFailed(err), true
	}
	c.lastWrite = time.Now()
	return ending{}, false
}

func (c *conn) shutdownEnding() ending {
	return ending{reason: endShutdown, code: closeGoingAway, text: "server shutting down"}
}

// clientEnding: the reader stopped. If the client sent a close frame, echo
// its code (RFC 6455 §5.5.1); otherwise its side is gone.
func (c *conn) clientEnding() ending {
	switch code := int(c.peerClose.Load()); code {
	case 0:
		return ending{reason: endClientClosed}
	case closeNoStatus:
		return ending{reason: endClientClosed, code: closeNormal}
	default:
		return ending{reason: endClientClosed, code: code}
	}
}

// writeFailed classifies a failed write. The socket is not written again.
func (c *conn) writeFailed(err error) ending {
	reason := endWriteError
	select {
	case <-c.readerDone:
		reason = endClientClosed
	default:
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		reason = endWriteTimeout
	case errors.Is(err, net.ErrClosed):
		reason = endShutdown // only a forced shutdown closes the socket under the writer
	}
	return ending{reason: reason, err: err}
}

// finish sends the error frame and close frame e asks for, waits a little
// for the client's close reply if the server spoke first, then closes the
// socket and waits for the reader.
func (c *conn) finish(e ending) {
	if e.code != 0 && e.frame != nil {
		if err := c.w.message(opBinary, e.frame); err != nil {
			e.code = 0
		} else {
			c.s.cfg.Metrics.sent(1, len(e.frame))
		}
	}
	if e.code != 0 && c.w.close(e.code, e.text) == nil && c.peerClose.Load() == 0 {
		wait := time.NewTimer(c.s.cfg.CloseWait)
		select {
		case <-c.readerDone:
		case <-wait.C:
		case <-c.s.forced:
		}
		wait.Stop()
	}
	_ = c.nc.Close()
	<-c.readerDone
}

// readLoop discards what the client sends (the stream is one-way) and
// reports pings, pongs and the client's close to the writer. It never
// writes; it returns when the socket fails or the client closes.
func (c *conn) readLoop() {
	defer close(c.readerDone)
	c.ws.SetReadLimit(c.s.cfg.ReadLimit)
	c.ws.SetPingHandler(c.gotPing)
	c.ws.SetPongHandler(func(string) error {
		c.pongs.Add(1)
		return nil
	})
	c.ws.SetCloseHandler(func(code int, _ string) error {
		c.peerClose.Store(int32(code))
		return nil
	})
	for {
		// NextReader skips the unread rest of the previous message.
		if _, _, err := c.ws.NextReader(); err != nil {
			c.readErr = err
			return
		}
	}
}

// gotPing queues a pong for the writer. Only the latest ping needs an
// answer (RFC 6455 §5.5.3), so an older queued one is replaced.
func (c *conn) gotPing(data string) error {
	for {
		select {
		case c.pingReq <- data:
			return nil
		default:
		}
		select {
		case <-c.pingReq:
		default:
		}
	}
}
