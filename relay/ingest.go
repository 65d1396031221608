package relay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/relay/internal/state"
)

// ErrHostBanned: the host or its domain is banned.
var ErrHostBanned = errors.New("relay: host is banned")

// ErrBadHost: the hostname cannot be used (syntax, scheme, SSRF guard).
var ErrBadHost = errors.New("relay: bad host")

// HostOptions are the per-host settings of AddHost.
type HostOptions struct {
	// Lenient turns MST inversion failures into counted warnings.
	Lenient bool
	// AccountLimit overrides Config.DefaultAccountLimit.
	AccountLimit int64
	// Backfill makes a host without a stored cursor start from the start of
	// its retained window (cursor 0) instead of live, as new hosts do.
	Backfill bool
}

// ingester reads one host's stream. Its host copy is the one the consumer's
// batches write; admin changes go through setHost so neither undoes the other.
type ingester struct {
	cancel  context.CancelFunc
	limiter *limiter
	mu      struct {
		sync.Mutex
		host state.Host
	}
}

func (in *ingester) snapshot() state.Host {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.mu.host
}

// parseHost turns what an operator or requestCrawl gives into a hostname and
// whether it is plain ws. Only Dev allows ws://.
func (r *Relay) parseHost(raw string) (hostname string, noSSL bool, err error) {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", false, fmt.Errorf("%w: %q", ErrBadHost, raw)
	}
	switch u.Scheme {
	case "https", "wss":
	case "http", "ws":
		noSSL = true
	default:
		return "", false, fmt.Errorf("%w: scheme %q", ErrBadHost, u.Scheme)
	}
	hostname = strings.TrimSuffix(strings.ToLower(u.Host), ".")
	if noSSL && !r.cfg.Dev {
		return "", false, fmt.Errorf("%w: plain ws:// needs the development flag", ErrBadHost)
	}
	return hostname, noSSL, nil
}

// AddHost subscribes to a host (or updates its options and reactivates it)
// and, while Run is active, starts its ingester. It does no liveness or SSRF
// check: requestCrawl does those before calling it.
func (r *Relay) AddHost(ctx context.Context, raw string, opts HostOptions) error {
	hostname, noSSL, err := r.parseHost(raw)
	if err != nil {
		return err
	}
	if r.domainBanned(hostname) {
		return fmt.Errorf("%w: %s", ErrHostBanned, hostname)
	}
	h, err := state.GetHost(r.db, hostname)
	switch {
	case errors.Is(err, state.ErrNotFound):
		// IDs order listHosts by first subscription.
		h = &state.Host{Hostname: hostname, ID: r.cfg.Now().UnixNano(), AccountLimit: r.cfg.DefaultAccountLimit, Seq: -1}
	case err != nil:
		return err
	case h.Status == state.HostBanned:
		return fmt.Errorf("%w: %s", ErrHostBanned, hostname)
	}
	h.NoSSL, h.Lenient, h.Status, h.Backfill = noSSL, opts.Lenient, state.HostActive, opts.Backfill
	if opts.AccountLimit > 0 {
		h.AccountLimit = opts.AccountLimit
	}
	if err := state.PutHost(r.db, h); err != nil {
		return fmt.Errorf("add host %s: %w", hostname, err)
	}
	if err := state.Sync(r.db); err != nil {
		return fmt.Errorf("add host %s: %w", hostname, err)
	}
	r.startIngester(h)
	return nil
}

func (r *Relay) startIngester(h *state.Host) {
	cursor := consumer.NoCursor
	if h.Backfill {
		cursor = 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.runCtx == nil || r.mu.ingesters[h.Hostname] != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.mu.runCtx)
	in := &ingester{cancel: cancel, limiter: newLimiter(r.cfg.RateLimit)}
	in.mu.host = *h
	scheme := "wss://"
	if h.NoSSL {
		scheme = "ws://"
	}
	cp, err := consumer.NewCheckpoint(r.db, "host/"+h.Hostname)
	if err == nil {
		if saved, ok, lerr := cp.Load(); lerr != nil {
			err = lerr
		} else if ok {
			cursor = saved
		}
	}
	var c *consumer.Consumer
	var pipe *pipeline
	if err == nil {
		pctx, fail := context.WithCancelCause(ctx)
		pipe = newPipeline(r, in, cp, r.cfg.HostWorkers, fail)
		c, err = consumer.New(consumer.Config{
			URL:        scheme + h.Hostname,
			Cursor:     cursor,
			MinBackoff: r.cfg.MinBackoff, MaxBackoff: r.cfg.MaxBackoff, MaxFailures: r.cfg.MaxFailures,
			Header:  map[string][]string{"User-Agent": {UserAgent}},
			Dialer:  &websocket.Dialer{NetDialContext: r.guardedDialer().DialContext},
			Logger:  r.cfg.Logger,
			Metrics: r.cmetric,
			Handler: consumer.HandlerFunc(func(ctx context.Context, ev consumer.Event) error {
				if err := in.limiter.wait(ctx); err != nil {
					return err
				}
				return pipe.HandleEvent(ctx, ev)
			}),
		})
		ctx = pctx
	}
	if err != nil {
		cancel()
		r.log.Error("host ingester", "host", h.Hostname, "err", err)
		return
	}
	r.mu.ingesters[h.Hostname] = in
	r.mu.wg.Add(1)
	go r.runIngester(ctx, in, c, pipe, h.Hostname)
}

// runIngester runs one host's consumer until ctx ends or it gives up, and
// records why it stopped.
func (r *Relay) runIngester(ctx context.Context, in *ingester, c *consumer.Consumer, pipe *pipeline, hostname string) {
	defer r.mu.wg.Done()
	pipe.start(ctx)
	err := c.Run(ctx)
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // a worker failed: our own store or log is broken
	}
	pipe.stop()
	in.cancel()
	r.mu.Lock()
	delete(r.mu.ingesters, hostname)
	r.mu.Unlock()
	status := ""
	switch {
	case err == nil:
		return
	case errors.Is(err, consumer.ErrGaveUp):
		status = state.HostOffline
	case errors.Is(err, consumer.ErrFutureCursor):
		status = state.HostIdle
	}
	r.log.Error("host ingester stopped", "host", hostname, "err", err)
	if status != "" {
		h := in.snapshot()
		h.Status = status
		if perr := state.PutHost(r.db, &h); perr != nil {
			r.log.Error("save host status", "host", hostname, "err", perr)
		}
	}
}

// StopHost stops a host's ingester (if running) and sets its status.
func (r *Relay) StopHost(hostname, status string) error {
	r.mu.Lock()
	in := r.mu.ingesters[hostname]
	r.mu.Unlock()
	if in != nil {
		in.cancel()
	}
	h, err := state.GetHost(r.db, hostname)
	if err != nil {
		return err
	}
	h.Status = status
	if err := state.PutHost(r.db, h); err != nil {
		return err
	}
	return state.Sync(r.db)
}

func (r *Relay) domainBanned(hostname string) bool {
	bans, err := state.DomainBans(r.db)
	if err != nil {
		return true // fail closed: our own store is broken
	}
	name := hostname
	if i := strings.LastIndexByte(name, ':'); i > 0 && !strings.Contains(name[i:], "]") {
		name = name[:i]
	}
	for _, d := range bans {
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}

// limiter is a per-second window: wait blocks (backpressure on the host's
// socket) until the event fits, and never drops.
type limiter struct {
	perSec int
	mu     sync.Mutex
	window time.Time
	n      int
}

func newLimiter(perSec int) *limiter { return &limiter{perSec: perSec} }

func (l *limiter) wait(ctx context.Context) error {
	if l == nil || l.perSec <= 0 {
		return nil
	}
	for {
		l.mu.Lock()
		now := time.Now()
		if now.Sub(l.window) >= time.Second {
			l.window, l.n = now, 0
		}
		if l.n < l.perSec {
			l.n++
			l.mu.Unlock()
			return nil
		}
		next := l.window.Add(time.Second).Sub(now)
		l.mu.Unlock()
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
