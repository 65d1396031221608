package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
	"github.com/conflux-atproto/conflux/firehose/subscribe"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/internal/procs"
	"github.com/conflux-atproto/conflux/relay/internal/state"
	"github.com/conflux-atproto/conflux/relay/internal/verify"
)

// Defaults for the zero values of Config.
const (
	DefaultAccountLimit = 100
	DefaultMaxFailures  = 15
	// DefaultWriteGap batches a fast stream's commits into fewer, larger
	// writes per subscriber, for a few milliseconds of latency: with many
	// subscribers, one wake-up and system call each per log commit would
	// cost more CPU than verifying the events.
	DefaultWriteGap = 10 * time.Millisecond
	// UserAgent marks us as a relay, so that another relay can refuse to
	// loop through us (and we through it).
	UserAgent = "conflux-relay (atproto-relay)"
)

// Config configures New. DataDir is required.
type Config struct {
	// DataDir holds the state DB (state/) and the event log (events/).
	DataDir string
	// PLCURL is the PLC directory (identity.DefaultPLCURL if empty).
	PLCURL string
	// Identities overrides the identity cache (tests); by default an
	// identity.Cache over an identity.Resolver with PLCURL.
	Identities verify.Identities
	// HTTPClient is used for identity lookups and host checks.
	HTTPClient *http.Client
	// Dev allows hosts on localhost and private addresses, plain ws:// and
	// any port. Never in production: it opens the relay to SSRF.
	Dev bool
	// Retention of the event log; eventlog.DefaultRetention (72h) if zero.
	Retention time.Duration
	// DefaultAccountLimit caps active accounts of a new host.
	DefaultAccountLimit int64
	// RateLimit, RateLimitHour and RateLimitDay are the per-host events
	// per second, hour and day (sliding windows); 0 means no limit. A host
	// above one is read more slowly (backpressure), never dropped.
	RateLimit, RateLimitHour, RateLimitDay int
	// MinBackoff and MaxBackoff bound the jittered reconnect delay;
	// MaxFailures consecutive failed connections set a host offline.
	MinBackoff, MaxBackoff time.Duration
	MaxFailures            int
	// HostWorkers is how many of one host's events are processed at once
	// (in order per DID). Default DefaultHostWorkers.
	HostWorkers int
	// AccountCache bounds the in-memory account state cache
	// (DefaultAccountCache if zero).
	AccountCache int
	// MaxConnsPerIP limits subscribers per client IP (subscribe's default
	// if zero; negative means no limit).
	MaxConnsPerIP int
	// WriteGap is subscribe.Config.WriteGap: the least time between two
	// writes to a caught-up subscriber. DefaultWriteGap if zero; negative
	// means none.
	WriteGap time.Duration
	// NoSync skips fsyncs (tests and benchmarks: a crash may lose events).
	NoSync bool
	// AdminPassword protects /admin (HTTP Basic, user admin). Empty
	// disables the admin API.
	AdminPassword string
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// Logger; discard by default.
	Logger *slog.Logger
	// Registerer, if set, receives every series of the relay.
	Registerer prometheus.Registerer
}

// Relay merges hosts' streams into one verified, sequenced firehose.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	db      *pebble.DB
	events  *eventlog.Log
	sub     *subscribe.Server
	ids     verify.Identities
	verify  *verify.Verifier
	metrics *Metrics
	cmetric *consumer.Metrics

	mu struct {
		sync.Mutex
		runCtx    context.Context
		wg        *sync.WaitGroup
		ingesters map[string]*ingester
		drops     map[verify.Reason]int64
		dropLog   map[string]time.Time // host+reason -> last Info line
		warnings  map[verify.Reason]int64
	}
	// local caches the local statuses that are not active (takedowns,
	// throttling: few), so the ingest path does not read them per event.
	// Every SetLocal goes through setLocal, which keeps it current.
	local struct {
		sync.RWMutex
		m map[string]string
	}
	accounts *accountCache
	nextUID  atomic.Uint64 // the UID the next new account gets
	// deliveryCPU releases the verification slot kept for delivery while
	// anyone subscribes (nil when none is kept); see keepDeliveryCPU.
	deliveryCPU func()
	consumers   consumerRegistry
	closeOnce   sync.Once

	// storeFault, set only by tests, stands for a failure of our own store
	// before an event is processed (a full disk, a broken Pebble): what the
	// host supervisor must survive.
	storeFault func() error
}

// New opens the relay's stores. It starts nothing.
func New(cfg Config) (*Relay, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("relay: DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultAccountLimit <= 0 {
		cfg.DefaultAccountLimit = DefaultAccountLimit
	}
	if cfg.HostWorkers <= 0 {
		cfg.HostWorkers = DefaultHostWorkers
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	r := &Relay{cfg: cfg, log: cfg.Logger.With("component", "relay"), accounts: newAccountCache(cfg.AccountCache)}
	r.mu.ingesters = map[string]*ingester{}
	r.mu.drops = map[verify.Reason]int64{}
	r.mu.dropLog = map[string]time.Time{}
	r.mu.warnings = map[verify.Reason]int64{}
	if err := r.openIdentities(); err != nil {
		return nil, err
	}
	// One verification per CPU at a time: the workers are many (each host
	// needs several events in flight while appends wait on the log), and
	// all of them runnable at once would queue the log's committer and the
	// subscribers' writers behind them.
	v, err := verify.New(verify.Config{Identities: r.ids, Now: cfg.Now, Slots: procs.CPUs()})
	if err != nil {
		return nil, err
	}
	r.verify = v
	r.consumers.onChange = r.keepDeliveryCPU
	if cfg.Registerer != nil {
		r.metrics = NewMetrics(cfg.Registerer)
		r.cmetric = consumer.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"consumer": "relay_hosts"}, cfg.Registerer))
	}
	if err := r.openStores(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Relay) openIdentities() error {
	if r.cfg.Identities != nil {
		r.ids = r.cfg.Identities
		return nil
	}
	res, err := identity.NewResolver(identity.Config{PLCURL: r.cfg.PLCURL, HTTPClient: r.cfg.HTTPClient, UserAgent: UserAgent, DevLocalhost: r.cfg.Dev})
	if err != nil {
		return fmt.Errorf("relay: identity resolver: %w", err)
	}
	cache, err := identity.NewCache(res, identity.CacheConfig{Now: r.cfg.Now})
	if err != nil {
		return fmt.Errorf("relay: identity cache: %w", err)
	}
	r.ids = cache
	return nil
}

func (r *Relay) openStores() error {
	opts := &pebble.Options{Logger: quietPebble{}}
	// Most lookups are of accounts' state: bloom filters spare the misses
	// (new accounts) a read of every level.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(filepath.Join(r.cfg.DataDir, "state"), opts)
	if err != nil {
		return fmt.Errorf("relay: open state: %w", err)
	}
	var elm *eventlog.Metrics
	var sm *subscribe.Metrics
	if r.cfg.Registerer != nil {
		elm = eventlog.NewMetrics(r.cfg.Registerer)
		sm = subscribe.NewMetrics(r.cfg.Registerer)
	}
	events, err := eventlog.Open(eventlog.Config{
		Dir: filepath.Join(r.cfg.DataDir, "events"), Retention: r.cfg.Retention,
		NoSync: r.cfg.NoSync, Logger: r.cfg.Logger, Metrics: elm,
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("relay: open event log: %w", err)
	}
	gap := r.cfg.WriteGap
	switch {
	case gap == 0:
		gap = DefaultWriteGap
	case gap < 0:
		gap = 0
	}
	sub, err := subscribe.New(subscribe.Config{Logger: r.cfg.Logger, Metrics: sm, MaxConnsPerIP: r.cfg.MaxConnsPerIP, WriteGap: gap}, events)
	if err != nil {
		events.Close()
		db.Close()
		return fmt.Errorf("relay: subscribe server: %w", err)
	}
	r.db, r.events, r.sub = db, events, sub
	next, err := state.AssignUIDs(db)
	if err != nil {
		r.Close()
		return fmt.Errorf("relay: %w", err)
	}
	r.nextUID.Store(next)
	r.local.m = map[string]string{}
	if err := state.ListLocal(db, func(did, status string) { r.local.m[did] = status }); err != nil {
		r.Close()
		return fmt.Errorf("relay: load local statuses: %w", err)
	}
	return nil
}

// keepDeliveryCPU keeps one CPU out of verification while anyone
// subscribes (on machines with more than one). Verification would otherwise
// take every CPU whenever hosts send faster than the relay can verify, and
// the subscribers' writers, sharing the run queue with it, would fall tens
// of milliseconds behind; with a CPU to themselves they stay within a few.
// Ingest gives up 1/CPUs of its peak while subscribed to. Called by
// the consumer registry, in order, with the number of subscribers.
func (r *Relay) keepDeliveryCPU(subscribers int) {
	want := subscribers > 0 && procs.CPUs() > 1
	switch {
	case want && r.deliveryCPU == nil:
		r.deliveryCPU = r.verify.Reserve()
	case !want && r.deliveryCPU != nil:
		r.deliveryCPU()
		r.deliveryCPU = nil
	}
}

// localStatus returns did's local status.
func (r *Relay) localStatus(did string) string {
	r.local.RLock()
	defer r.local.RUnlock()
	if s, ok := r.local.m[did]; ok {
		return s
	}
	return state.LocalActive
}

// setLocal stores did's local status and updates the cache.
func (r *Relay) setLocal(w pebble.Writer, did, status string) error {
	r.local.Lock()
	defer r.local.Unlock()
	if err := state.SetLocal(w, did, status); err != nil {
		return err
	}
	if status == state.LocalActive {
		delete(r.local.m, did)
	} else {
		r.local.m[did] = status
	}
	return nil
}

// quietPebble keeps Pebble's informational lines out of the relay's output.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// Run starts the event log, the subscribe server and one ingester per active
// host, and returns after ctx ends and all of them stopped.
func (r *Relay) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logErr := make(chan error, 1)
	go func() { logErr <- r.events.Run(ctx) }()
	subErr := make(chan error, 1)
	go func() { subErr <- r.sub.Run(ctx) }()

	var wg sync.WaitGroup
	r.mu.Lock()
	r.mu.runCtx, r.mu.wg = ctx, &wg
	r.mu.Unlock()
	hosts, err := state.ListHosts(r.db)
	if err != nil {
		cancel()
	} else {
		for _, h := range hosts {
			if h.Status == state.HostActive {
				r.startIngester(h)
			}
		}
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-logErr:
		cancel()
		logErr <- runErr
	}
	wg.Wait()
	r.mu.Lock()
	r.mu.runCtx = nil
	r.mu.Unlock()
	if e := <-subErr; e != nil && runErr == nil {
		runErr = e
	}
	if e := <-logErr; e != nil && runErr == nil {
		runErr = fmt.Errorf("event log: %w", e)
	}
	return errors.Join(err, runErr)
}

// Close closes the stores. Call it after Run returned. It is idempotent.
func (r *Relay) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.sub.Close()
		err = errors.Join(r.events.Close(), r.db.Close())
	})
	return err
}

// Head is the last seq the relay emitted.
func (r *Relay) Head() int64 { return r.events.Head() }

// Counts returns how many events were dropped and warned about, by reason.
func (r *Relay) Counts() (drops, warnings map[string]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	drops, warnings = map[string]int64{}, map[string]int64{}
	for k, v := range r.mu.drops {
		drops[string(k)] = v
	}
	for k, v := range r.mu.warnings {
		warnings[string(k)] = v
	}
	return drops, warnings
}

func (r *Relay) countDrop(reason verify.Reason) {
	r.metrics.drop(reason)
	r.mu.Lock()
	r.mu.drops[reason]++
	r.mu.Unlock()
}

func (r *Relay) countWarn(reason verify.Reason) {
	r.metrics.warn(reason)
	r.mu.Lock()
	r.mu.warnings[reason]++
	r.mu.Unlock()
}

// firstDrop reports whether a drop of reason from host is the first in a
// minute, so that a flood of bad events logs one line, not one per event.
func (r *Relay) firstDrop(host string, reason verify.Reason) bool {
	key := host + " " + string(reason)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if last, ok := r.mu.dropLog[key]; ok && now.Sub(last) < time.Minute {
		return false
	}
	if len(r.mu.dropLog) > 10_000 {
		clear(r.mu.dropLog)
	}
	r.mu.dropLog[key] = now
	return true
}
