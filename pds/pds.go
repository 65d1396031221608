package pds

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/firehose/eventlog"
	"github.com/conflux-atproto/conflux/firehose/subscribe"
	"github.com/conflux-atproto/conflux/repo/crypto"
)

// PDS is a repository host. Create it with New, serve Handler, call Run
// (which owns every goroutine), and Close after Run returned.
type PDS struct {
	cfg     Config
	log     *slog.Logger
	db      *pebble.DB
	wopts   *pebble.WriteOptions
	events  *eventlog.Log
	sub     *subscribe.Server
	metrics *metrics
	handler http.Handler

	serviceDID string
	secret     []byte            // HMAC key of session tokens
	rotation   crypto.PrivateKey // did:plc rotation key of every account this host creates
	plc        *plcClient

	// createMu serializes account creation and deletion, which own the
	// handle index and the uid counter.
	createMu sync.Mutex
	// refreshMu makes using a refresh token (read, then revoke) atomic.
	refreshMu sync.Mutex

	repos struct {
		mu sync.Mutex
		m  map[string]*repoState // by DID; loaded on first use
	}

	life struct {
		mu       sync.Mutex
		ran      bool // Run was called
		running  bool // Run has not returned
		stopping bool // Run's context ended: no new writes
		closed   bool
		inflight sync.WaitGroup // writes between enter and leave
	}
	ready   chan struct{} // closed once Run has recovered pending events
	stopped chan struct{} // closed when Run stops admitting writes

	// crashHook, set only by tests, is called by publish at its two crash
	// points ("stored": the repo batch is durable, the events not appended;
	// "appended": the events are in the log, the pending record not
	// cleared). An error stops publish there, as a crash would.
	crashHook func(stage string) error
}

// New opens the store and the event log in cfg.DataDir. It starts nothing.
func New(cfg Config) (*PDS, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &PDS{
		cfg:        cfg,
		log:        cfg.Logger,
		wopts:      pebble.Sync,
		serviceDID: cfg.serviceDID(),
		ready:      make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	if cfg.NoSync {
		p.wopts = pebble.NoSync
	}
	p.repos.m = make(map[string]*repoState)
	p.metrics = newMetrics(cfg.Registry)
	p.db, err = pebble.Open(filepath.Join(cfg.DataDir, "repo"), &pebble.Options{
		Logger:             pebbleLogger{p.log},
		FormatMajorVersion: pebble.FormatNewest,
		// Blocks are keyed by CID, so every commit writes random keys: small
		// memtables mean a flush and an L0 compaction every few hundred
		// commits, which a busy host pays for in tail latency.
		MemTableSize: 64 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open repo store: %w", err)
	}
	if err := p.init(); err != nil {
		return nil, errors.Join(err, p.db.Close())
	}
	var elm *eventlog.Metrics
	var sm *subscribe.Metrics
	if cfg.Registry != nil {
		elm = eventlog.NewMetrics(cfg.Registry)
		sm = subscribe.NewMetrics(cfg.Registry)
	}
	p.events, err = eventlog.Open(eventlog.Config{
		Dir:        filepath.Join(cfg.DataDir, "events"),
		InitialSeq: cfg.InitialSeq,
		Retention:  cfg.Retention,
		MaxBytes:   cfg.EventsMaxBytes,
		NoSync:     cfg.NoSync,
		Logger:     cfg.Logger,
		Metrics:    elm,
	})
	if err != nil {
		return nil, errors.Join(err, p.db.Close())
	}
	p.sub, err = subscribe.New(subscribe.Config{Logger: cfg.Logger, Metrics: sm}, p.events)
	if err != nil {
		return nil, errors.Join(err, p.events.Close(), p.db.Close())
	}
	p.plc, err = newPLCClient(cfg)
	if err != nil {
		return nil, errors.Join(err, p.events.Close(), p.db.Close())
	}
	p.handler = p.newRouter()
	return p, nil
}

// init checks the store's format and loads (or creates) the host's own keys.
func (p *PDS) init() error {
	b := p.db.NewBatch()
	defer b.Close()
	format, ok, err := getBytes(p.db, metaKey(metaStoreMagic))
	if err != nil {
		return fmt.Errorf("read store format: %w", err)
	}
	if ok && string(format) != storeFormat {
		return fmt.Errorf("%w: store format %q, want %q", ErrCorrupt, format, storeFormat)
	}
	if !ok {
		_ = b.Set(metaKey(metaStoreMagic), []byte(storeFormat), nil)
	}
	if p.cfg.JWTSecret != "" {
		p.secret = []byte(p.cfg.JWTSecret)
	} else if p.secret, err = loadOrCreate(p.db, b, metaJWTSecret, func() ([]byte, error) {
		s := make([]byte, 32)
		_, err := rand.Read(s)
		return s, err
	}); err != nil {
		return fmt.Errorf("jwt secret: %w", err)
	}
	rot, err := loadOrCreate(p.db, b, metaRotation, func() ([]byte, error) {
		k, err := crypto.GenerateK256()
		if err != nil {
			return nil, err
		}
		return []byte(k.Multibase()), nil
	})
	if err != nil {
		return fmt.Errorf("rotation key: %w", err)
	}
	if p.rotation, err = crypto.ParsePrivateMultibase(string(rot)); err != nil {
		return fmt.Errorf("%w: rotation key: %w", ErrCorrupt, err)
	}
	return b.Commit(pebble.Sync)
}

// loadOrCreate returns meta value name, creating it with gen into b when
// absent.
func loadOrCreate(r pebble.Reader, b *pebble.Batch, name string, gen func() ([]byte, error)) ([]byte, error) {
	v, ok, err := getBytes(r, metaKey(name))
	if err != nil || ok {
		return v, err
	}
	if v, err = gen(); err != nil {
		return nil, err
	}
	return v, b.Set(metaKey(name), v, nil)
}

// Handler returns the XRPC handler (including subscribeRepos).
func (p *PDS) Handler() http.Handler { return p.handler }

// ServiceDID is the DID session tokens are issued for (did:web of the
// public host).
func (p *PDS) ServiceDID() string { return p.serviceDID }

// Run recovers events a crash left unannounced, then serves writes until ctx
// ends. On the way out it refuses new writes, waits for those in flight,
// stops the event log and closes subscriber connections. It returns nil
// after a clean stop.
func (p *PDS) Run(ctx context.Context) error {
	p.life.mu.Lock()
	switch {
	case p.life.closed:
		p.life.mu.Unlock()
		return ErrClosed
	case p.life.ran:
		p.life.mu.Unlock()
		return errors.New("pds: Run called twice")
	}
	p.life.ran, p.life.running = true, true
	p.life.mu.Unlock()
	defer func() {
		p.life.mu.Lock()
		p.life.running = false
		p.life.mu.Unlock()
	}()

	logCtx, stopLog := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLog()
	logDone := make(chan error, 1)
	go func() { logDone <- p.events.Run(logCtx) }()
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	subDone := make(chan error, 1)
	go func() { subDone <- p.sub.Run(subCtx) }()

	var runErr error
	if err := p.recoverPending(ctx); err != nil {
		if ctx.Err() == nil {
			runErr = fmt.Errorf("recover pending events: %w", err)
		}
	} else {
		close(p.ready)
		p.log.Info("pds running", "seq", p.events.Head())
		select {
		case <-ctx.Done():
		case err := <-logDone:
			logDone <- err // read again below
			runErr = fmt.Errorf("event log stopped: %w", err)
		}
	}

	p.life.mu.Lock()
	p.life.stopping = true
	close(p.stopped)
	p.life.mu.Unlock()
	p.life.inflight.Wait()
	stopLog()
	if err := <-logDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("event log: %w", err)
	}
	stopSub()
	if err := <-subDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("subscribe shutdown: %w", err)
	}
	return runErr
}

// enter admits a write: it waits until Run is serving (or ctx ends) and
// fails once Run is stopping. Every successful enter is paired with leave.
func (p *PDS) enter(ctx context.Context) error {
	select {
	case <-p.ready:
	case <-p.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotRunning, ctx.Err())
	}
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	if p.life.stopping || p.life.closed {
		return ErrNotRunning
	}
	p.life.inflight.Add(1)
	return nil
}

func (p *PDS) leave() { p.life.inflight.Done() }

// Close closes the subscribe server, the event log and the store. It fails
// while Run is active. It is idempotent.
func (p *PDS) Close() error {
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	if p.life.running {
		return errors.New("pds: Close while Run is active")
	}
	if p.life.closed {
		return nil
	}
	p.life.closed = true
	if !p.life.ran {
		close(p.stopped) // release writes waiting for a Run that never came
	}
	return errors.Join(p.sub.Close(), p.events.Close(), p.db.Close())
}

// pebbleLogger sends Pebble's lines to the PDS's logger.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf must not return; a library must not exit the process, so it panics
// after logging (Pebble calls it only on broken internal invariants).
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic(msg)
}
