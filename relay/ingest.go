package relay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"

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
		host  state.Host
		dirty bool // host changed since the pipeline last stored it
	}
}

func (in *ingester) snapshot() state.Host {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.mu.host
}

// storeHost writes the host record into w if it changed since the last
// call.
func (in *ingester) storeHost(w pebble.Writer) error {
	if in == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.mu.dirty {
		return nil
	}
	if err := state.PutHost(w, &in.mu.host); err != nil {
		return err
	}
	in.mu.dirty = false
	return nil
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

// StopHost stops a host's ingester (if running) and sets its status.
func (r *Relay) StopHost(hostname, status string) error {
	r.mu.Lock()
	in := r.mu.ingesters[hostname]
	r.mu.Unlock()
	if in != nil {
		// The pipeline writes its copy of the host record when it stops:
		// it must carry the new status, not undo it.
		in.mu.Lock()
		in.mu.host.Status, in.mu.host.Reason = status, ""
		in.mu.Unlock()
		in.cancel()
	}
	h, err := state.GetHost(r.db, hostname)
	if err != nil {
		return err
	}
	h.Status, h.Reason = status, ""
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
