package synth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("synth: invalid config")

// errMismatch: the host answered with a URI or CID the driver did not expect.
var errMismatch = errors.New("synth: host result differs from the computed one")

// Defaults for the optional Config fields.
const (
	DefaultHandleDomain = "test"
	DefaultLogEvery     = 5 * time.Second
	defaultMaxWorkers   = 16
	queueLen            = 8 // actions waiting per worker; a full queue stalls the planner
)

// Config configures a Driver. Host and Users are required.
type Config struct {
	Host Host
	// Users is how many users act. The first len(Accounts) are the given
	// accounts; the rest are created. 0 means len(Accounts).
	Users    int
	Accounts []Account
	// Rate is the target in actions (commits) per second; 0 means as fast
	// as the host takes them.
	Rate float64
	// MaxWrites stops the driver after planning this many actions; 0 means
	// run until the context ends.
	MaxWrites int64
	// Workers bounds how many actions run at once (default min(Users, 16)).
	Workers int
	Seed    int64
	Mix     Mix // zero means DefaultMix()
	// HandleDomain is the suffix of created handles (default "test").
	HandleDomain string
	// Password is given to created accounts. Empty asks the host for
	// accounts nobody can log in to (a PDS then skips hashing a password,
	// which is slow on purpose).
	Password string
	// Now stamps records (createdAt and the TID record keys); default
	// time.Now. A fixed clock makes runs byte-for-byte repeatable.
	Now      func() time.Time
	LogEvery time.Duration // progress log interval (default 5s)
	Logger   *slog.Logger
	Metrics  *Metrics
}

// Driver generates synthetic activity. Create it with New and start it with
// Run; Stats may be called at any time from any goroutine.
type Driver struct {
	cfg     Config
	log     *slog.Logger
	started atomic.Bool

	// Planner state: touched only by the goroutine running Run's plan loop.
	gen   *gen
	users []*userModel
	pool  keyedSet[poolPost]
	zipf  func() int
	tid   tidClock
	pace  *pacer

	stats struct {
		users   atomic.Int64
		byKind  [numKinds]atomic.Int64
		blobs   atomic.Int64
		errors  [numReasons]atomic.Int64
		startNs atomic.Int64 // unix ns when planning began; 0 before
		stopNs  atomic.Int64 // unix ns when Run finished; 0 while running
		lastErr atomic.Pointer[string]
	}
}

// New validates cfg and returns a driver. It starts nothing.
func New(cfg Config) (*Driver, error) {
	if cfg.Host == nil {
		return nil, fmt.Errorf("%w: no Host", ErrConfig)
	}
	if cfg.Users == 0 {
		cfg.Users = len(cfg.Accounts)
	}
	switch {
	case cfg.Users < 1:
		return nil, fmt.Errorf("%w: Users must be at least 1, got %d", ErrConfig, cfg.Users)
	case cfg.Users < len(cfg.Accounts):
		return nil, fmt.Errorf("%w: %d Accounts but only %d Users", ErrConfig, len(cfg.Accounts), cfg.Users)
	case cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0):
		return nil, fmt.Errorf("%w: Rate %v", ErrConfig, cfg.Rate)
	case cfg.MaxWrites < 0 || cfg.Workers < 0 || cfg.LogEvery < 0:
		return nil, fmt.Errorf("%w: MaxWrites, Workers and LogEvery must not be negative", ErrConfig)
	}
	for i, a := range cfg.Accounts {
		if _, err := syntax.ParseDID(a.DID); err != nil {
			return nil, fmt.Errorf("%w: account %d: %w", ErrConfig, i, err)
		}
		if _, err := syntax.ParseHandle(a.Handle); err != nil {
			return nil, fmt.Errorf("%w: account %d: %w", ErrConfig, i, err)
		}
	}
	if cfg.Mix == (Mix{}) {
		cfg.Mix = DefaultMix()
	}
	if err := cfg.Mix.validate(); err != nil {
		return nil, err
	}
	if cfg.HandleDomain == "" {
		cfg.HandleDomain = DefaultHandleDomain
	}
	if _, err := syntax.ParseHandle("a-0." + cfg.HandleDomain); err != nil {
		return nil, fmt.Errorf("%w: HandleDomain %q: %w", ErrConfig, cfg.HandleDomain, err)
	}
	if cfg.Workers == 0 {
		cfg.Workers = min(cfg.Users, defaultMaxWorkers)
	}
	cfg.Workers = min(cfg.Workers, cfg.Users)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LogEvery == 0 {
		cfg.LogEvery = DefaultLogEvery
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := newGen(cfg.Seed)
	return &Driver{
		cfg:  cfg,
		log:  log.With("component", "synth"),
		gen:  g,
		tid:  tidClock{now: cfg.Now, clockID: uint(uint64(cfg.Seed) % (syntax.MaxClockID + 1))},
		pace: newPacer(cfg.Rate),
	}, nil
}

// Run creates the users that need creating, then plans and applies actions
// until MaxWrites actions were planned or ctx ends, and returns once every
// action it started has finished. Failed actions are counted, not returned;
// Run returns an error only when the users cannot be set up. It may be
// called once.
func (d *Driver) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("synth: Run called twice")
	}
	defer func() { d.stats.stopNs.Store(time.Now().UnixNano()) }()
	if err := d.setupUsers(ctx); err != nil {
		return err
	}
	d.stats.startNs.Store(time.Now().UnixNano())
	d.log.Info("synth started", "users", len(d.users), "rate", d.cfg.Rate, "workers", d.cfg.Workers)

	var wg sync.WaitGroup
	queues := make([]chan *action, d.cfg.Workers)
	for i := range queues {
		q := make(chan *action, queueLen)
		queues[i] = q
		wg.Go(func() {
			for a := range q {
				if ctx.Err() == nil {
					d.execute(ctx, a)
				}
			}
		})
	}
	progressDone := make(chan struct{})
	wg.Go(func() { d.logProgress(ctx, progressDone) })

	d.planLoop(ctx, queues)
	for _, q := range queues {
		close(q)
	}
	close(progressDone)
	wg.Wait()
	s := d.Stats()
	d.log.Info("synth stopped", "writes", s.Writes, "errors", s.Errors, "not_found", s.NotFound, "rate", round(s.Rate))
	return nil
}

// planLoop plans actions at the paced rate and hands each to its user's
// worker, until MaxWrites or ctx ends.
func (d *Driver) planLoop(ctx context.Context, queues []chan *action) {
	for n := int64(0); d.cfg.MaxWrites == 0 || n < d.cfg.MaxWrites; n++ {
		if d.pace.wait(ctx) != nil {
			return
		}
		a := d.plan()
		select {
		case queues[a.user%len(queues)] <- a:
		case <-ctx.Done():
			return
		}
	}
}

// setupUsers builds the user models: given accounts first, then created
// ones. Handles and languages are drawn in order before any account is
// created, so they depend on the seed only; creation runs on the workers.
func (d *Driver) setupUsers(ctx context.Context) error {
	d.users = make([]*userModel, d.cfg.Users)
	for i := range d.users {
		lang := d.gen.language()
		if i < len(d.cfg.Accounts) {
			a := d.cfg.Accounts[i]
			d.users[i] = newUserModel(a.DID, a.Handle, lang, profileUnknown)
			continue
		}
		d.users[i] = newUserModel("", d.gen.handle(i, d.cfg.HandleDomain), lang, profileNone)
	}
	sem := make(chan struct{}, d.cfg.Workers)
	errs := make([]error, len(d.users))
	var wg sync.WaitGroup
	for i, u := range d.users[len(d.cfg.Accounts):] {
		i += len(d.cfg.Accounts)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			did, err := d.cfg.Host.CreateAccount(ctx, u.handle, d.cfg.Password)
			if err == nil {
				_, err = syntax.ParseDID(did)
			}
			if err != nil {
				errs[i] = fmt.Errorf("synth: create account %s: %w", u.handle, err)
				return
			}
			u.did = did
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, u := range d.users {
		u.handle = lowerASCII(u.handle)
	}
	d.zipf = d.gen.userPicker(len(d.users))
	d.stats.users.Store(int64(len(d.users)))
	d.cfg.Metrics.setUsers(len(d.users))
	return nil
}

// execute applies one action on a worker and counts the outcome.
func (d *Driver) execute(ctx context.Context, a *action) {
	start := time.Now()
	err := d.apply(ctx, a)
	switch {
	case err == nil:
		d.stats.byKind[a.kind].Add(1)
		d.cfg.Metrics.applied(a.kind, time.Since(start))
		return
	case ctx.Err() != nil:
		return // stopping: an interrupted action is not a failure
	}
	r := reasonHost
	switch {
	case errors.Is(err, ErrNotFound):
		r = reasonNotFound
	case errors.Is(err, errMismatch):
		r = reasonMismatch
	}
	d.stats.errors[r].Add(1)
	d.cfg.Metrics.failed(r)
	msg := err.Error()
	d.stats.lastErr.Store(&msg)
	d.log.Debug("synth action failed", "did", a.did, "kind", a.kind.String(), "reason", r.String(), "err", err)
}

// apply uploads the action's blobs, then applies its write, and checks that
// the host computed the same blob CIDs, URI and record CID as the planner.
func (d *Driver) apply(ctx context.Context, a *action) error {
	for _, b := range a.blobs {
		got, err := d.cfg.Host.UploadBlob(ctx, a.did, b.mime, b.data)
		if err != nil {
			return fmt.Errorf("upload %s blob: %w", b.mime, err)
		}
		d.stats.blobs.Add(1)
		d.cfg.Metrics.uploaded(len(b.data))
		if got.CID != b.cid {
			return fmt.Errorf("%w: blob %s, host says %s", errMismatch, b.cid, got.CID)
		}
	}
	w := a.write
	res, err := d.cfg.Host.ApplyWrites(ctx, a.did, []Write{w})
	if err != nil && a.createIfMissing && errors.Is(err, ErrNotFound) {
		w.Action = repo.Create
		res, err = d.cfg.Host.ApplyWrites(ctx, a.did, []Write{w})
	}
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", w.Action, w.Collection, w.RKey, err)
	}
	if w.Action == repo.Delete {
		return nil
	}
	if len(res) != 1 || res[0] != a.expect {
		return fmt.Errorf("%w: want %s %s, host says %+v", errMismatch, a.expect.URI, a.expect.CID, res)
	}
	return nil
}

// Stats returns a snapshot of the driver's progress.
func (d *Driver) Stats() Stats {
	s := Stats{Users: int(d.stats.users.Load()), ByKind: make(map[string]int64, numKinds)}
	for k := range numKinds {
		n := d.stats.byKind[k].Load()
		s.Writes += n
		if n > 0 {
			s.ByKind[k.String()] = n
		}
	}
	s.Blobs = d.stats.blobs.Load()
	for r := range numReasons {
		s.Errors += d.stats.errors[r].Load()
	}
	s.NotFound = d.stats.errors[reasonNotFound].Load()
	s.Mismatch = d.stats.errors[reasonMismatch].Load()
	if start := d.stats.startNs.Load(); start != 0 {
		end := d.stats.stopNs.Load()
		if end == 0 {
			end = time.Now().UnixNano()
		}
		s.Elapsed = time.Duration(end - start)
		if s.Elapsed > 0 {
			s.Rate = float64(s.Writes) / s.Elapsed.Seconds()
		}
	}
	return s
}

// logProgress logs the stats every LogEvery until done is closed.
func (d *Driver) logProgress(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(d.cfg.LogEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := d.Stats()
		args := []any{"writes", s.Writes, "rate", round(s.Rate), "errors", s.Errors, "not_found", s.NotFound, "blobs", s.Blobs}
		if p := d.stats.lastErr.Swap(nil); p != nil {
			args = append(args, "err", *p)
		}
		d.log.Info("synth progress", args...)
	}
}

func round(f float64) float64 { return math.Round(f*10) / 10 }

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
