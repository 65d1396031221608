package eventlog

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultRetention    = 72 * time.Hour
	DefaultTailBytes    = 128 << 20
	DefaultTrimInterval = time.Minute
)

// Errors returned by the log. Compare with errors.Is.
var (
	// ErrTrimmed: events after the cursor were removed by retention.
	ErrTrimmed = errors.New("event log: events after cursor were trimmed")
	// ErrClosed: the log no longer accepts appends (Run returned or Close
	// was called) or, for reads, Pebble is closed.
	ErrClosed = errors.New("event log: closed")
	// ErrCorrupt: the store breaks one of the log's invariants.
	ErrCorrupt = errors.New("event log: corrupt store")
	// ErrBadCursor: a negative cursor.
	ErrBadCursor = errors.New("event log: bad cursor")
	// ErrRunning: Run is active (Close before Run returned, or Run twice).
	ErrRunning = errors.New("event log: Run is active or already ran")
)

// Config configures Open. Only Dir is required.
type Config struct {
	// Dir is the Pebble directory; created if missing.
	Dir string
	// InitialSeq is a floor for seqs: the first seq appended by this process
	// is max(InitialSeq, last durable seq + 1). Default 1. A floor at or
	// below the stored head is ignored.
	InitialSeq int64
	// Retention trims events older than this (by append time). Default 72h.
	Retention time.Duration
	// MaxBytes, if positive, also trims the oldest events while the stored
	// frame bytes exceed it. 0 turns it off.
	MaxBytes int64
	// TailBytes bounds the in-memory tail of recent encoded frames (frame
	// bytes plus a small per-event overhead). Default 128 MiB.
	TailBytes int64
	// TrimInterval is how often Run's trimmer looks for expired events.
	// Default one minute.
	TrimInterval time.Duration
	// NoSync skips fsync on commit: a crash may lose acknowledged events.
	// For benchmarks and tests only.
	NoSync bool
	// Now is the clock for append times and retention. Default time.Now.
	Now func() time.Time
	// Logger receives the log's own lines (component=eventlog) and Pebble's.
	// Default: discard.
	Logger *slog.Logger
	// Metrics, if non-nil, is updated by the log (see NewMetrics).
	Metrics *Metrics
}

// withDefaults validates cfg and fills in the zero values.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Dir == "" {
		return cfg, errors.New("event log config: Dir is required")
	}
	if cfg.InitialSeq < 0 || cfg.Retention < 0 || cfg.MaxBytes < 0 || cfg.TailBytes < 0 || cfg.TrimInterval < 0 {
		return cfg, fmt.Errorf("event log config: negative value (InitialSeq %d, Retention %s, MaxBytes %d, TailBytes %d, TrimInterval %s)",
			cfg.InitialSeq, cfg.Retention, cfg.MaxBytes, cfg.TailBytes, cfg.TrimInterval)
	}
	if cfg.InitialSeq == 0 {
		cfg.InitialSeq = 1
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.TailBytes == 0 {
		cfg.TailBytes = DefaultTailBytes
	}
	if cfg.TrimInterval == 0 {
		cfg.TrimInterval = DefaultTrimInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("component", "eventlog")
	return cfg, nil
}
