package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
)

// Errors returned by Run. Compare with errors.Is.
var (
	// ErrRetry, wrapped in a handler's error, asks for the event again: the
	// connection is dropped and the consumer resumes from the last
	// processed cursor after a backoff. Use it for transient trouble in the
	// handler's own dependencies; any other handler error stops Run.
	ErrRetry = errors.New("consumer: retry event")
	// ErrFutureCursor: the server answered FutureCursor (our cursor is ahead
	// of its newest event) and the policy is FutureCursorStop.
	ErrFutureCursor = errors.New("consumer: server reports FutureCursor")
	// ErrNotImplemented: the server answered HTTP 501 (the spec says not
	// to retry).
	ErrNotImplemented = errors.New("consumer: server does not implement subscribeRepos")
	// ErrGaveUp: Config.MaxFailures consecutive connections failed.
	ErrGaveUp = errors.New("consumer: too many failed connections")
	// ErrRunning: Run is already active or has already run.
	ErrRunning = errors.New("consumer: Run is active or already ran")
)

// Event is one sequenced event of the stream.
type Event struct {
	// Seq is the event's seq (>= 1, strictly increasing along the stream).
	Seq int64
	// Frame is the decoded header and body.
	Frame firehose.Frame
	// Raw is the complete WebSocket message. The consumer never reuses it,
	// so the handler may keep it (the decoded Frame may alias it).
	Raw []byte
}

// Handler handles one event. Returning nil makes the event processed (the
// cursor moves past it). An error wrapping ErrRetry asks for the event
// again after a reconnect; any other error stops Run with that error. If
// ctx is cancelled the handler may return early with an error wrapping
// ctx.Err(): the event then counts as not processed and Run returns nil.
type Handler interface {
	HandleEvent(ctx context.Context, ev Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev Event) error

// HandleEvent calls f.
func (f HandlerFunc) HandleEvent(ctx context.Context, ev Event) error { return f(ctx, ev) }

// processor runs the handler: plainProc calls it, durableProc also gathers
// the effects into batches. Only the Run goroutine uses it.
type processor interface {
	// startCursor is the stored cursor, if the mode has one.
	startCursor() (seq int64, ok bool, err error)
	// handle runs the handler on ev; on error nothing pending is kept.
	handle(ctx context.Context, ev Event) error
	// full says the pending group must be flushed before the next event.
	full() bool
	// flush makes every handled event processed (durable: commits).
	flush() error
}

// Consumer reads one subscribeRepos stream. Create it with New, then call
// Run once.
type Consumer struct {
	cfg    Config
	base   *url.URL
	dialer *websocket.Dialer
	header http.Header
	proc   processor

	started atomic.Bool
	// cursor is the seq of the last processed event (NoCursor before the
	// first one when no cursor was configured or stored).
	cursor atomic.Int64
	// Progress state for Stats and the progress reporter. processedAt is
	// when the last event was processed (unix nanos) and lagNanos how far
	// behind its event time that was (lagUnknown: no sample yet).
	processedN  atomic.Int64
	processedAt atomic.Int64
	lagNanos    atomic.Int64

	mu struct {
		sync.Mutex
		stats Stats
	}
}

// Stats are the consumer's counters since New, the same facts the metrics
// carry, for tests, status pages and the CLI.
type Stats struct {
	Cursor         int64 // resume cursor: last processed seq, else the start cursor (may be NoCursor)
	Processed      int64 // events processed by this Consumer
	Dials          int64 // connection attempts
	DialErrors     int64 // attempts that failed before the WebSocket opened
	Drops          map[DropReason]int64
	Skipped        map[SkipReason]int64
	OutdatedCursor int64 // #info OutdatedCursor frames
}

// New validates cfg and returns a consumer. It starts nothing.
func New(cfg Config) (*Consumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	base, err := normalize(cfg.URL)
	if err != nil {
		return nil, err
	}
	c := &Consumer{cfg: cfg, base: base}
	c.dialer = newDialer(cfg)
	c.header = cfg.Header.Clone()
	if c.header == nil {
		c.header = http.Header{}
	}
	if c.header.Get("User-Agent") == "" {
		c.header.Set("User-Agent", DefaultUserAgent)
	}
	if cfg.Durable != nil {
		c.proc, err = newDurableProc(c, cfg.Durable)
		if err != nil {
			return nil, err
		}
	} else {
		c.proc = &plainProc{c: c, h: cfg.Handler}
	}
	c.cursor.Store(cfg.Cursor)
	c.lagNanos.Store(int64(lagUnknown))
	c.mu.stats.Drops = map[DropReason]int64{}
	c.mu.stats.Skipped = map[SkipReason]int64{}
	return c, nil
}

func newDialer(cfg Config) *websocket.Dialer {
	var d websocket.Dialer
	if cfg.Dialer != nil {
		d = *cfg.Dialer
	} else {
		d = websocket.Dialer{Proxy: http.ProxyFromEnvironment, ReadBufferSize: 64 << 10}
	}
	if d.HandshakeTimeout == 0 {
		d.HandshakeTimeout = cfg.DialTimeout
	}
	return &d
}

// Cursor returns the seq of the last processed event, or NoCursor. Safe to
// call at any time.
func (c *Consumer) Cursor() int64 { return c.cursor.Load() }

// Stats returns a snapshot of the counters. Safe to call at any time.
func (c *Consumer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.mu.stats
	s.Drops = make(map[DropReason]int64, len(c.mu.stats.Drops))
	for k, v := range c.mu.stats.Drops {
		s.Drops[k] = v
	}
	s.Skipped = make(map[SkipReason]int64, len(c.mu.stats.Skipped))
	for k, v := range c.mu.stats.Skipped {
		s.Skipped[k] = v
	}
	s.Cursor = c.cursor.Load()
	s.Processed = c.processedN.Load()
	return s
}

// Run connects and delivers events until ctx is cancelled (nil) or a
// failure that reconnecting cannot fix (see the package doc). It owns every
// goroutine it starts and returns after they have stopped.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	seq, ok, err := c.proc.startCursor()
	if err != nil {
		return err
	}
	if ok {
		c.cursor.Store(seq)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	wg.Go(func() { c.reportProgress(pctx) })
	return c.loop(ctx)
}

// loop runs connections one after another with a backoff between them.
func (c *Consumer) loop(ctx context.Context) error {
	bo := backoff{min: c.cfg.MinBackoff, max: c.cfg.MaxBackoff}
	dialCursor := c.cursor.Load()
	failures := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		before := c.processedN.Load()
		res := c.session(ctx, dialCursor)
		if res.stop != nil {
			return res.stop
		}
		if ctx.Err() != nil {
			return nil
		}
		if c.processedN.Load() > before {
			failures = 0
			bo.reset()
			dialCursor = c.cursor.Load()
		} else {
			failures++
		}
		if res.live {
			// FutureCursorRestartLive: keep tailing live until an event
			// is processed; the old cursor would be refused again.
			dialCursor = NoCursor
		}
		if c.cfg.MaxFailures > 0 && failures >= c.cfg.MaxFailures {
			return fmt.Errorf("%w: %d in a row, last: %w", ErrGaveUp, failures, res.err)
		}
		delay := max(bo.next(), res.retryAfter)
		c.cfg.Logger.Warn("connection ended; reconnecting",
			"host", hostOf(c.base), "cursor", c.cursor.Load(), "reason", string(res.reason),
			"err", res.err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// advance marks n events ending with last as processed.
func (c *Consumer) advance(n int, last Event) {
	now := time.Now()
	c.cursor.Store(last.Seq)
	c.processedN.Add(int64(n))
	c.processedAt.Store(now.UnixNano())
	lag, ok := eventLag(last.Frame, now)
	if ok {
		c.lagNanos.Store(int64(lag))
	}
	c.cfg.Metrics.processed(n, last.Seq, lag, ok)
}

func (c *Consumer) countDial(ok bool) {
	c.cfg.Metrics.dial(ok)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.stats.Dials++
	if !ok {
		c.mu.stats.DialErrors++
	}
}

func (c *Consumer) countDrop(r DropReason) {
	c.cfg.Metrics.drop(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.stats.Drops[r]++
}

func (c *Consumer) countSkip(r SkipReason) {
	c.cfg.Metrics.skip(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.stats.Skipped[r]++
}

func (c *Consumer) countOutdated() {
	c.cfg.Metrics.outdatedCursor()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.stats.OutdatedCursor++
}

// plainProc calls the Handler; an event is processed when it returns nil.
type plainProc struct {
	c *Consumer
	h Handler
}

func (p *plainProc) startCursor() (int64, bool, error) { return 0, false, nil }

func (p *plainProc) handle(ctx context.Context, ev Event) error {
	if err := p.h.HandleEvent(ctx, ev); err != nil {
		return err
	}
	p.c.advance(1, ev)
	return nil
}

func (p *plainProc) full() bool   { return false }
func (p *plainProc) flush() error { return nil }
