package appview

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/internal/procs"
)

// ConsumerName names the AppView's cursor key in its Pebble store.
const ConsumerName = "appview"

// Config configures New.
type Config struct {
	// RelayURL is the subscribeRepos stream to index (required).
	RelayURL string
	// Dir is the Pebble directory (required unless DB is set).
	Dir string
	// DB, if set, is used instead of opening Dir; the Server does not close it.
	DB *pebble.DB
	// Listen is the HTTP address for Run ("" serves no HTTP; see Handler).
	Listen string
	// NoVerify turns commit proof and signature checks off (trusted relay).
	NoVerify bool
	// Resolver provides signing keys; required unless NoVerify.
	Resolver identity.DIDResolver
	// Cursor is where to start when no cursor is stored (0 = the relay's
	// whole window, consumer.NoCursor = live tail).
	Cursor int64
	// HeadFunc, if set, reports the relay's head seq for the lag metric.
	HeadFunc func(ctx context.Context) (int64, error)
	// ResyncInterval is the least time between two getRepo resyncs of
	// desynchronised repositories (default 1 s; negative: no limit).
	ResyncInterval time.Duration
	// NoSync commits batches without fsync (tests, benchmarks).
	NoSync bool
	// MaxBatchEvents bounds events per committed batch (default: consumer's).
	MaxBatchEvents int
	// VerifyWorkers is how many goroutines verify commits and decode
	// records ahead of the ordered apply (default one per CPU).
	VerifyWorkers int
	// PipelineDepth bounds the events in flight between the stream and
	// the ordered apply (default 4 × MaxBatchEvents, at least 256).
	PipelineDepth int
	// OnCommit, if set, is told of each committed batch (see
	// consumer.Durable.OnCommit): the index is readable up to last.Seq.
	OnCommit func(n int, last consumer.Event)
	// MinBackoff, MaxBackoff override the consumer's reconnect backoff.
	MinBackoff, MaxBackoff time.Duration
	// ProgressInterval overrides the consumer's progress log period.
	ProgressInterval time.Duration
	Logger           *slog.Logger
	// Registry, if set, receives the AppView's and the consumer's metrics.
	Registry prometheus.Registerer
}

// Server is the AppView: indexer plus XRPC read API.
type Server struct {
	cfg     Config
	db      *pebble.DB
	ownDB   bool
	ix      *index.Index
	x       *indexer
	cp      *consumer.Checkpoint
	ccfg    consumer.Config // durable, for NewConsumer
	echo    *echo.Echo
	log     *slog.Logger
	metrics *Metrics
	// committed is the seq of the last event whose effects are committed.
	committed atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and opens the store. It starts nothing.
func New(cfg Config) (*Server, error) {
	if cfg.RelayURL == "" {
		return nil, errors.New("appview config: RelayURL is required")
	}
	if !cfg.NoVerify && cfg.Resolver == nil {
		return nil, errors.New("appview config: Resolver is required unless NoVerify")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, db: cfg.DB, log: cfg.Logger.With("component", "appview")}
	if s.db == nil {
		if cfg.Dir == "" {
			return nil, errors.New("appview config: Dir or DB is required")
		}
		db, err := pebble.Open(cfg.Dir, &pebble.Options{})
		if err != nil {
			return nil, fmt.Errorf("open appview index: %w", err)
		}
		s.db, s.ownDB = db, true
	}
	var cm *consumer.Metrics
	if cfg.Registry != nil {
		s.metrics = NewMetrics(cfg.Registry)
		cm = consumer.NewMetrics(cfg.Registry)
	}
	if err := index.CheckFormat(s.db); err != nil {
		s.Close()
		return nil, fmt.Errorf("appview index: %w", err)
	}
	s.ix = index.New(s.db)
	s.ix.OnSkip = s.metrics.skip
	fetch, err := newHTTPFetcher(cfg.RelayURL)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("appview config: %w", err)
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = time.Second
	}
	s.x = &indexer{ix: s.ix, verify: !cfg.NoVerify, keys: cfg.Resolver, log: s.log, metrics: s.metrics,
		fetch: fetch, limit: &limiter{interval: cfg.ResyncInterval}}
	s.cfg = cfg.withDefaults()
	if err := s.initConsumer(cm); err != nil {
		s.Close()
		return nil, fmt.Errorf("appview consumer: %w", err)
	}
	s.echo = echo.New()
	s.echo.HideBanner, s.echo.HidePort = true, true
	(&api{db: s.db}).routes(s.echo)
	return s, nil
}

// withDefaults fills in the pipeline's zero values.
func (cfg Config) withDefaults() Config {
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = consumer.DefaultMaxBatchEvents
	}
	if cfg.VerifyWorkers <= 0 {
		cfg.VerifyWorkers = procs.CPUs()
	}
	if cfg.PipelineDepth <= 0 {
		cfg.PipelineDepth = max(256, 4*cfg.MaxBatchEvents)
	}
	return cfg
}

// initConsumer sets up the durable consumer config (NewConsumer's), the
// checkpoint, and the committed cursor from the store.
func (s *Server) initConsumer(cm *consumer.Metrics) error {
	cfg := s.cfg
	s.ccfg = consumer.Config{
		URL:    cfg.RelayURL,
		Cursor: cfg.Cursor,
		Durable: &consumer.Durable{DB: s.db, Name: ConsumerName, Handler: s.x,
			MaxBatchEvents: cfg.MaxBatchEvents, NoSync: cfg.NoSync, OnCommit: cfg.OnCommit},
		MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		HeadFunc: cfg.HeadFunc, ProgressInterval: cfg.ProgressInterval,
		Logger: cfg.Logger, Metrics: cm,
	}
	if _, err := consumer.New(s.ccfg); err != nil { // validates the URL
		return err
	}
	cp, err := consumer.NewCheckpoint(s.db, ConsumerName)
	if err != nil {
		return err
	}
	s.cp = cp
	s.committed.Store(cfg.Cursor)
	seq, ok, err := cp.Load()
	if ok {
		s.committed.Store(seq)
	}
	return err
}

// Handler serves the XRPC reads.
func (s *Server) Handler() http.Handler { return s.echo }

// NewConsumer returns a new durable consumer of the index's stream, with
// the same index, cursor and metrics as Run. It indexes sequentially:
// verification runs inline, not in Run's pipeline. A consumer runs only
// once; a caller that stops and restarts indexing (the dev dashboard's
// pause) runs a new one instead of Run, and it resumes from the stored
// cursor. Its Cursor is its own; Server.Cursor follows Run only.
func (s *Server) NewConsumer() (*consumer.Consumer, error) { return consumer.New(s.ccfg) }

// Cursor is the seq of the last event Run committed (before Run: the
// stored cursor, else Config.Cursor).
func (s *Server) Cursor() int64 { return s.committed.Load() }

// Skipped returns the record ops skipped so far, by reason.
func (s *Server) Skipped() map[index.SkipReason]int64 { return s.ix.Skipped() }

// Run indexes the stream and, if Config.Listen is set, serves HTTP until
// ctx is cancelled or the consumer fails.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var srv *http.Server
	errc := make(chan error, 1)
	if s.cfg.Listen != "" {
		ln, err := net.Listen("tcp", s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("appview listen: %w", err)
		}
		s.log.Info("serving", "addr", ln.Addr().String())
		srv = &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				cancel()
			}
		}()
	}
	err := s.index(ctx)
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}
	select {
	case serr := <-errc:
		return fmt.Errorf("appview http: %w", serr)
	default:
	}
	return err
}

// index runs the stream consumer feeding the pipeline (see pipeline) from
// the stored cursor until ctx ends or either fails. The consumer's own
// cursor (and its lag metrics) counts events handed to the pipeline, at
// most PipelineDepth ahead of the committed cursor; a reconnect resumes
// after them, since the pipeline keeps them.
func (s *Server) index(ctx context.Context) error {
	cursor := s.cfg.Cursor
	seq, ok, err := s.cp.Load()
	if err != nil {
		return fmt.Errorf("appview consumer: %w", err)
	}
	if ok {
		cursor = seq
		s.committed.Store(seq)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wo := pebble.Sync
	if s.cfg.NoSync {
		wo = pebble.NoSync
	}
	p := newPipeline(s.x, s.db, s.cp, &s.committed, pipelineConfig{
		workers: s.cfg.VerifyWorkers, depth: s.cfg.PipelineDepth, maxBatch: s.cfg.MaxBatchEvents, wo: wo,
		retryMin: cmp.Or(s.cfg.MinBackoff, consumer.DefaultMinBackoff), retryMax: cmp.Or(s.cfg.MaxBackoff, consumer.DefaultMaxBackoff),
		onFail: cancel, onCommit: s.cfg.OnCommit,
	})
	ccfg := s.ccfg
	ccfg.Durable, ccfg.Cursor, ccfg.Handler = nil, cursor, consumer.HandlerFunc(p.submit)
	cons, err := consumer.New(ccfg)
	if err != nil {
		return fmt.Errorf("appview consumer: %w", err)
	}
	perr := make(chan error, 1)
	go func() { perr <- p.run(ctx) }()
	cerr := cons.Run(ctx)
	p.close()
	if err := <-perr; err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("appview consumer: %w", cerr)
	}
	return nil
}

// Close closes the store if New opened it. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.ownDB {
			s.closeErr = s.db.Close()
		}
	})
	return s.closeErr
}
