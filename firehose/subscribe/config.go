package subscribe

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

// Log is what the Server streams from. *eventlog.Log implements it.
//
// ReadFrom appends to dst up to limit events with seq > cursor, in order,
// none above Head(), and returns an error wrapping eventlog.ErrTrimmed when
// events after cursor were trimmed (cursor+1 < Oldest()) and one wrapping
// eventlog.ErrClosed when the log is closed. Changed returns a channel that is
// closed when Head advances; the Server takes it before each read so that no
// advance is missed.
type Log interface {
	Head() int64
	Oldest() int64
	ReadFrom(cursor int64, dst []eventlog.Event, limit int) ([]eventlog.Event, error)
	Changed() <-chan struct{}
}

// Defaults for the zero values of Config.
const (
	DefaultWriteTimeout    = 10 * time.Second
	DefaultPingInterval    = 30 * time.Second
	DefaultCloseWait       = 2 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	DefaultMaxConnsPerIP   = 64
	DefaultReadLimit       = 64 << 10
	DefaultBatchEvents     = 512
)

// Config configures New. Every field is optional.
type Config struct {
	// WriteTimeout is the deadline of every write. A subscriber whose write
	// blocks past it (it stopped reading) is dropped. Default 10 s.
	WriteTimeout time.Duration
	// PingInterval: a connection on which nothing was written for this long
	// gets a ping, and is dropped if the ping before it got no pong.
	// Default 30 s.
	PingInterval time.Duration
	// CloseWait is how long the server waits for the client's reply to a
	// close frame it sent before closing the socket. Default 2 s.
	CloseWait time.Duration
	// ShutdownTimeout is Run's budget for closing connections cleanly once
	// its context ends. Default 5 s.
	ShutdownTimeout time.Duration
	// MaxConnsPerIP limits concurrent connections per client IP (HTTP 429
	// beyond it). Default 64; negative means no limit.
	MaxConnsPerIP int
	// ClientIP returns the key of the per-IP limit. Default: the host of
	// the request's RemoteAddr. Behind a trusted proxy, read its header here.
	ClientIP func(r *http.Request) string
	// ReadLimit is the largest message a client may send (all are
	// discarded); a larger one ends the connection. Default 64 KiB.
	ReadLimit int64
	// BatchEvents caps the events read from the log, and written with one
	// system call, at a time. Default 512.
	BatchEvents int
	// WriteGap, if positive, is the least time between two writes to a
	// caught-up subscriber: woken by a new event sooner than that after its
	// last write, it waits out the rest, so the events appended meanwhile go
	// out in the same write. Under a fast stream with many subscribers this
	// turns one wake-up and one system call per subscriber per log commit
	// into one per gap, for at most the gap in added latency. Default 0.
	WriteGap time.Duration
	// Logger receives the server's lines (component=subscribe). Default:
	// discard.
	Logger *slog.Logger
	// Metrics, if non-nil, is updated by the server (see NewMetrics).
	Metrics *Metrics
}

// withDefaults validates cfg and fills in the zero values.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.WriteTimeout < 0 || cfg.PingInterval < 0 || cfg.CloseWait < 0 || cfg.ShutdownTimeout < 0 ||
		cfg.ReadLimit < 0 || cfg.BatchEvents < 0 || cfg.WriteGap < 0 {
		return cfg, fmt.Errorf("subscribe config: negative value (WriteTimeout %s, PingInterval %s, CloseWait %s, ShutdownTimeout %s, ReadLimit %d, BatchEvents %d)",
			cfg.WriteTimeout, cfg.PingInterval, cfg.CloseWait, cfg.ShutdownTimeout, cfg.ReadLimit, cfg.BatchEvents)
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.CloseWait == 0 {
		cfg.CloseWait = DefaultCloseWait
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteIP
	}
	if cfg.ReadLimit == 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.BatchEvents == 0 {
		cfg.BatchEvents = DefaultBatchEvents
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("component", "subscribe")
	return cfg, nil
}

// errNoLog is New's error for a nil Log.
var errNoLog = errors.New("subscribe: nil Log")

// remoteIP is the host part of r.RemoteAddr (all of it if it has no port).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
