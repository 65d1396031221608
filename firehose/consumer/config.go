package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
)

// NoCursor as Config.Cursor starts at the live tail (no cursor parameter).
const NoCursor int64 = -1

// Defaults for the zero values of Config and Durable.
const (
	DefaultMinBackoff       = 250 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultProgressInterval = 10 * time.Second
	DefaultCatchUpLag       = time.Minute
	DefaultMaxBatchEvents   = 128
	// DefaultReadLimit is the firehose's 5 MB frame maximum plus room for
	// WebSocket framing, so a frame at the limit is judged by the frame
	// decoder (a named error) and not cut off by the socket.
	DefaultReadLimit = int64(firehose.MaxFrameSize) + 64<<10
	// DefaultUserAgent is sent unless Config.Header sets one.
	DefaultUserAgent = "conflux-consumer (atproto firehose client)"
)

// Received events are queued between the reading goroutine and the handler
// so that reading and decoding overlap handling; a byte bound would be
// tighter, but frames are a few KB and the spec caps them at 5 MB, so 64
// frames bound the queue to a few hundred KB in practice.
const queueLen = 64

// closeBudget bounds the close frame we send on a clean stop and the pong
// we answer a ping with.
const closeBudget = time.Second

// FutureCursorPolicy says what to do when the server answers FutureCursor:
// our cursor is ahead of everything it has, which means it lost data or
// restarted its sequence (or we talk to the wrong server).
type FutureCursorPolicy int

const (
	// FutureCursorStop returns ErrFutureCursor from Run: an operator decides.
	FutureCursorStop FutureCursorPolicy = iota
	// FutureCursorRestartLive logs an error and reconnects without a cursor
	// (live tail). Events between our cursor and the server's new head are
	// never seen; the next processed seq may be lower than the old cursor.
	FutureCursorRestartLive
)

// Config configures New. URL and exactly one of Handler and Durable are
// required.
type Config struct {
	// URL of the stream: ws://, wss://, http:// or https:// (converted),
	// with or without the /xrpc/com.atproto.sync.subscribeRepos path; a bare
	// host means wss. See NormalizeURL.
	URL string
	// Cursor is where to start when no durable checkpoint exists: the seq
	// after which events are wanted. 0 asks for the server's whole retained
	// window; NoCursor starts at the live tail.
	Cursor int64
	// Handler receives every event (non-durable mode).
	Handler Handler
	// Durable, if set, runs the durable mode (see Durable); Handler must be
	// nil then.
	Durable *Durable
	// OnFutureCursor is the FutureCursor policy; default FutureCursorStop.
	OnFutureCursor FutureCursorPolicy

	// MinBackoff and MaxBackoff bound the jittered exponential delay before
	// a reconnect. Defaults 250 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// MaxFailures, if positive, makes Run give up after that many
	// consecutive connections that failed without processing an event.
	// 0 retries forever.
	MaxFailures int
	// ReadLimit is the largest WebSocket message accepted. Default
	// DefaultReadLimit.
	ReadLimit int64
	// DialTimeout bounds the TCP, TLS and WebSocket handshake. Default 10 s.
	DialTimeout time.Duration
	// PingInterval is how often we ping the server; IdleTimeout is how long
	// a connection may stay silent (no frame, ping or pong) before it counts
	// as dead. Defaults 30 s and 3 × PingInterval.
	PingInterval, IdleTimeout time.Duration
	// Dialer, if set, is used (copied) for connections; its HandshakeTimeout
	// defaults to DialTimeout.
	Dialer *websocket.Dialer
	// Header is sent with the handshake (User-Agent defaults to
	// DefaultUserAgent).
	Header http.Header

	// HeadFunc, if set, reports the upstream head seq for the events-behind
	// metric. It is called once per ProgressInterval from a goroutine of
	// Run, with a context that expires at the next tick.
	HeadFunc func(ctx context.Context) (int64, error)
	// ProgressInterval is the period of progress logs and of HeadFunc.
	// Default 10 s.
	ProgressInterval time.Duration
	// CatchUpLag is the lag (seconds behind) above which progress lines are
	// logged at Info; default one minute. Being behind a known head also
	// counts as catching up.
	CatchUpLag time.Duration
	// Logger gets the consumer's lines (component=consumer). Default discard.
	Logger *slog.Logger
	// Metrics, if non-nil, is updated (see NewMetrics).
	Metrics *Metrics
}

// Durable configures the durable mode: cursor and the handler's effects are
// committed together in one batch of DB.
type Durable struct {
	// DB is the caller's Pebble store; the consumer never closes it.
	DB *pebble.DB
	// Name identifies the consumer's cursor key (CursorKey(Name)), so
	// several consumers can share one DB.
	Name string
	// Handler writes each event's effects into the batch it is given.
	Handler DurableHandler
	// MaxBatchEvents bounds how many already-received events share one
	// batch (and one fsync). Default 128; 1 commits every event alone.
	MaxBatchEvents int
	// NoSync commits without fsync: a crash may lose committed events
	// (they are then delivered again). For tests and benchmarks.
	NoSync bool
	// OnCommit, if set, is called after each batch is committed, with the
	// number of events in it and the last one: the moment their effects
	// became readable in DB. It runs on Run's goroutine and must not block;
	// it lets an observer (a latency probe, a status page) see visibility
	// without polling.
	OnCommit func(n int, last Event)
}

// withDefaults validates cfg and fills in the zero values.
func (cfg Config) withDefaults() (Config, error) {
	if (cfg.Handler == nil) == (cfg.Durable == nil) {
		return cfg, errors.New("consumer config: exactly one of Handler and Durable is required")
	}
	if cfg.Durable != nil {
		if err := cfg.Durable.validate(); err != nil {
			return cfg, err
		}
	}
	if cfg.Cursor < NoCursor {
		return cfg, fmt.Errorf("consumer config: cursor %d is negative (use NoCursor for the live tail)", cfg.Cursor)
	}
	if cfg.OnFutureCursor != FutureCursorStop && cfg.OnFutureCursor != FutureCursorRestartLive {
		return cfg, fmt.Errorf("consumer config: unknown FutureCursor policy %d", cfg.OnFutureCursor)
	}
	if cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 || cfg.MaxFailures < 0 || cfg.ReadLimit < 0 ||
		cfg.DialTimeout < 0 || cfg.PingInterval < 0 || cfg.IdleTimeout < 0 ||
		cfg.ProgressInterval < 0 || cfg.CatchUpLag < 0 {
		return cfg, errors.New("consumer config: negative duration or limit")
	}
	setDefault(&cfg.MinBackoff, DefaultMinBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	setDefault(&cfg.DialTimeout, DefaultDialTimeout)
	setDefault(&cfg.PingInterval, DefaultPingInterval)
	setDefault(&cfg.IdleTimeout, 3*cfg.PingInterval)
	setDefault(&cfg.ProgressInterval, DefaultProgressInterval)
	setDefault(&cfg.CatchUpLag, DefaultCatchUpLag)
	setDefault(&cfg.ReadLimit, DefaultReadLimit)
	if cfg.MaxBackoff < cfg.MinBackoff {
		return cfg, fmt.Errorf("consumer config: MaxBackoff %s below MinBackoff %s", cfg.MaxBackoff, cfg.MinBackoff)
	}
	if cfg.IdleTimeout <= cfg.PingInterval {
		// A server answers our ping within one round trip; a shorter idle
		// timeout would kill healthy but quiet connections.
		return cfg, fmt.Errorf("consumer config: IdleTimeout %s must exceed PingInterval %s", cfg.IdleTimeout, cfg.PingInterval)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("component", "consumer")
	return cfg, nil
}

func (d *Durable) validate() error {
	if d.DB == nil {
		return errors.New("consumer config: Durable.DB is required")
	}
	if d.Handler == nil {
		return errors.New("consumer config: Durable.Handler is required")
	}
	if err := validateName(d.Name); err != nil {
		return fmt.Errorf("consumer config: %w", err)
	}
	if d.MaxBatchEvents < 0 {
		return fmt.Errorf("consumer config: negative MaxBatchEvents %d", d.MaxBatchEvents)
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
