package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
)

// result is how one connection ended.
type result struct {
	// stop, if set, ends Run with this error (reason may still be set, to
	// count the drop that caused it).
	stop error
	// reason and err say why the connection ended (for the reconnect log).
	reason DropReason
	err    error
	// retryAfter is a server-requested minimum delay (HTTP 429).
	retryAfter time.Duration
	// live: reconnect without a cursor (FutureCursorRestartLive).
	live bool
}

// dropError is a reason for closing a connection, sent by the reader after
// the last good event.
type dropError struct {
	reason DropReason
	err    error
}

func (e *dropError) Error() string { return fmt.Sprintf("%s: %v", e.reason, e.err) }
func (e *dropError) Unwrap() error { return e.err }

// item is what the reader hands to the delivery loop: an event, or the
// reason the connection ended (always the last item).
type item struct {
	ev   Event
	drop *dropError
}

// session runs one connection: dial, then read (reader goroutine), ping
// (pinger goroutine) and deliver (this goroutine) until something ends it.
func (c *Consumer) session(ctx context.Context, cursor int64) result {
	conn, res := c.dial(ctx, cursor)
	if conn == nil {
		return res
	}
	c.cfg.Logger.Info("connected", "host", hostOf(c.base), "cursor", cursor)
	sctx, cancel := context.WithCancel(ctx)
	items := make(chan item, queueLen)
	var wg sync.WaitGroup
	wg.Go(func() {
		r := reader{c: c, conn: conn, cursor: cursor, items: items, done: sctx.Done()}
		r.run()
	})
	wg.Go(func() { c.ping(sctx, conn) })

	res = c.deliver(ctx, items)
	cancel()
	if ctx.Err() != nil && res.stop == nil {
		// A clean stop: tell the server we are going away.
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeBudget))
	}
	_ = conn.Close() // unblocks the reader
	wg.Wait()
	if res.reason != "" {
		c.countDrop(res.reason)
	}
	return res
}

// deliver hands events to the processor in order until the connection ends,
// ctx is cancelled or processing fails. A pending durable group is flushed
// whenever no further event is already waiting, when it is full, and before
// returning, so cursor and effects reach the DB together.
func (c *Consumer) deliver(ctx context.Context, items <-chan item) result {
	for {
		var it item
		select {
		case it = <-items:
		default:
			if err := c.proc.flush(); err != nil {
				return result{stop: err}
			}
			select {
			case it = <-items:
			case <-ctx.Done():
				return result{}
			}
		}
		if it.drop != nil || ctx.Err() != nil {
			if err := c.proc.flush(); err != nil {
				return result{stop: err}
			}
			if it.drop == nil {
				return result{}
			}
			return c.dropped(it.drop)
		}
		if err := c.proc.handle(ctx, it.ev); err != nil {
			return c.handlerFailed(ctx, it.ev, err)
		}
		if c.proc.full() {
			if err := c.proc.flush(); err != nil {
				return result{stop: err}
			}
		}
	}
}

// handlerFailed decides what a handler error means (see Handler).
func (c *Consumer) handlerFailed(ctx context.Context, ev Event, err error) result {
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return result{}
	case errors.Is(err, ErrRetry):
		return result{reason: DropHandlerRetry, err: fmt.Errorf("handle seq %d: %w", ev.Seq, err)}
	default:
		return result{stop: fmt.Errorf("consumer: handle seq %d: %w", ev.Seq, err)}
	}
}

// dropped turns the reader's reason into a result, applying the
// FutureCursor policy.
func (c *Consumer) dropped(d *dropError) result {
	res := result{reason: d.reason, err: d}
	if d.reason != DropFutureCursor {
		return res
	}
	c.cfg.Logger.Error("server reports FutureCursor: our cursor is ahead of its newest event (data loss or a sequence reset upstream)",
		"host", hostOf(c.base), "cursor", c.cursor.Load(), "err", d.err,
		"restart_live", c.cfg.OnFutureCursor == FutureCursorRestartLive)
	if c.cfg.OnFutureCursor == FutureCursorRestartLive {
		res.live = true
		return res
	}
	res.stop = fmt.Errorf("%w at cursor %d: %w", ErrFutureCursor, c.cursor.Load(), d.err)
	return res
}

// ping keeps the connection provably alive: a server that answers pongs is
// there even when the stream is quiet, and the pong handler pushes the read
// deadline out.
func (c *Consumer) ping(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.PingInterval)); err != nil {
				return // the reader sees the broken connection
			}
		}
	}
}

// reader reads, decodes and checks frames of one connection and queues the
// events. It stops at the first problem, which it queues as the last item.
type reader struct {
	c      *Consumer
	conn   *websocket.Conn
	cursor int64 // what we dialed with
	items  chan<- item
	done   <-chan struct{}
	buf    bytes.Buffer
}

func (r *reader) run() {
	idle := r.c.cfg.IdleTimeout
	extend := func(string) error { return r.conn.SetReadDeadline(time.Now().Add(idle)) }
	r.conn.SetReadLimit(r.c.cfg.ReadLimit)
	r.conn.SetPongHandler(extend)
	r.conn.SetPingHandler(func(data string) error {
		_ = extend(data)
		err := r.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(closeBudget))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil // as gorilla's default handler: not worth failing the read
		}
		return err
	})
	prev := max(r.cursor, 0)
	first := true
	for {
		ev, drop := r.next()
		if drop != nil {
			r.send(item{drop: drop})
			return
		}
		if ev.Seq == 0 {
			continue // a frame without a seq, already dealt with
		}
		if ev.Seq <= prev {
			if first && ev.Seq == r.cursor {
				// An inclusive-cursor server repeated our last event.
				r.c.countSkip(SkipRedelivered)
				first = false
				continue
			}
			r.send(item{drop: &dropError{DropOutOfOrder, fmt.Errorf("seq %d after %d", ev.Seq, prev)}})
			return
		}
		prev, first = ev.Seq, false
		if !r.send(item{ev: ev}) {
			return
		}
	}
}

// next reads one message. It returns an event with Seq 0 for frames that
// carry no event (#info, unknown types).
func (r *reader) next() (Event, *dropError) {
	if err := r.conn.SetReadDeadline(time.Now().Add(r.c.cfg.IdleTimeout)); err != nil {
		return Event{}, &dropError{DropReadError, err}
	}
	raw, err := r.read()
	if err != nil {
		return Event{}, err
	}
	r.c.cfg.Metrics.received(len(raw))
	f, derr := firehose.DecodeFrame(raw)
	if derr != nil {
		return Event{}, &dropError{DropBadFrame, derr}
	}
	if f.Op == -1 {
		return Event{}, errorFrameDrop(f)
	}
	if seq, ok := f.Seq(); ok {
		if seq < 1 {
			return Event{}, &dropError{DropBadFrame, fmt.Errorf("%s with seq %d", f.Type, seq)}
		}
		return Event{Seq: seq, Frame: f, Raw: raw}, nil
	}
	if info, ok := f.Msg.(*firehose.Info); ok {
		r.c.countSkip(SkipInfo)
		if info.Name == firehose.InfoOutdatedCursor {
			r.c.countOutdated()
			r.c.cfg.Logger.Warn("server reports OutdatedCursor: events between our cursor and its oldest retained event are missing",
				"host", hostOf(r.c.base), "cursor", r.cursor, "message", info.Message)
		} else {
			r.c.cfg.Logger.Info("info frame", "host", hostOf(r.c.base), "name", info.Name, "message", info.Message)
		}
		return Event{}, nil
	}
	r.c.countSkip(SkipUnknownType)
	return Event{}, nil
}

// read returns the next binary message in a fresh slice of its exact size
// (handlers may keep it); the growing is done in a reused buffer.
func (r *reader) read() ([]byte, *dropError) {
	mt, rd, err := r.conn.NextReader()
	if err == nil && mt != websocket.BinaryMessage {
		return nil, &dropError{DropTextFrame, fmt.Errorf("message type %d", mt)}
	}
	if err == nil {
		r.buf.Reset()
		_, err = r.buf.ReadFrom(rd)
	}
	if err != nil {
		return nil, readDrop(err)
	}
	if r.buf.Cap() > 1<<20 {
		// Do not pin a buffer sized for one huge frame.
		defer func() { r.buf = bytes.Buffer{} }()
	}
	return bytes.Clone(r.buf.Bytes()), nil
}

// send queues it unless the session is over.
func (r *reader) send(it item) bool {
	select {
	case r.items <- it:
		return true
	case <-r.done:
		return false
	}
}

func readDrop(err error) *dropError {
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		return &dropError{DropTooBig, err}
	case errors.As(err, &ne) && ne.Timeout():
		return &dropError{DropIdleTimeout, err}
	default:
		return &dropError{DropReadError, err}
	}
}

func errorFrameDrop(f firehose.Frame) *dropError {
	ef, ok := f.Msg.(*firehose.ErrorFrame)
	if !ok {
		return &dropError{DropBadFrame, errors.New("error frame without error body")}
	}
	err := fmt.Errorf("error frame %s: %q", ef.Error, ef.Message)
	switch ef.Error {
	case firehose.ErrNameFutureCursor:
		return &dropError{DropFutureCursor, err}
	case firehose.ErrNameConsumerTooSlow:
		return &dropError{DropConsumerTooSlow, err}
	default:
		return &dropError{DropErrorFrame, err}
	}
}
