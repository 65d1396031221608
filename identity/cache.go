package identity

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/conflux-atproto/conflux/repo/syntax"
)

// DIDResolver resolves a DID to its identity. [*Resolver] implements it, and
// so does [*Cache].
type DIDResolver interface {
	Resolve(ctx context.Context, did string) (*Identity, error)
}

// Cache defaults.
const (
	DefaultTTL         = time.Hour
	DefaultNegativeTTL = 2 * time.Minute
	DefaultMaxEntries  = 100_000
)

// CacheConfig configures a [Cache]. The zero value gives the defaults.
type CacheConfig struct {
	// TTL is how long a resolved identity is served without asking again.
	TTL time.Duration
	// NegativeTTL is how long a failure is served. It is shorter than TTL
	// so a DID that was briefly unreachable recovers soon, while a flood
	// of events for a bogus DID still costs one request per NegativeTTL.
	NegativeTTL time.Duration
	// MaxEntries bounds the cache; the least recently used entry goes
	// first.
	MaxEntries int
	// Now is the clock; time.Now if nil. Tests inject a fake.
	Now func() time.Time
}

// Cache is a caching [DIDResolver]. Concurrent lookups of one DID share one
// request. It starts no goroutines and is safe for concurrent use.
type Cache struct {
	res         DIDResolver
	ttl, negTTL time.Duration
	maxEntries  int
	now         func() time.Time

	mu struct {
		sync.Mutex
		entries map[string]*list.Element // Value is *cacheEntry
		lru     list.List                // front is most recently used
		calls   map[string]*call         // requests in flight
	}
}

type cacheEntry struct {
	did     string
	ident   *Identity
	err     error
	expires time.Time
}

// call is one request in flight, shared by every caller that waits on done.
// Its fields other than done are written under Cache.mu before done is
// closed, and read after.
type call struct {
	done   chan struct{}
	ident  *Identity
	err    error
	forced bool // started by Refresh; only such calls satisfy a Refresh
	// detached: a Refresh or Purge superseded this call, so its result
	// is handed to its waiters but not stored.
	detached bool
	// abandoned: the caller doing the request gave up (its context ended)
	// or the resolver panicked; waiters must not use the result.
	abandoned bool
	waiters   int // callers waiting on done; read by tests
}

// NewCache wraps res. It starts nothing.
func NewCache(res DIDResolver, cfg CacheConfig) (*Cache, error) {
	if res == nil {
		return nil, fmt.Errorf("identity cache: nil resolver")
	}
	if cfg.TTL < 0 || cfg.NegativeTTL < 0 || cfg.MaxEntries < 0 {
		return nil, fmt.Errorf("identity cache: negative TTL, NegativeTTL or MaxEntries")
	}
	c := &Cache{res: res, ttl: cfg.TTL, negTTL: cfg.NegativeTTL, maxEntries: cfg.MaxEntries, now: cfg.Now}
	if c.ttl == 0 {
		c.ttl = DefaultTTL
	}
	if c.negTTL == 0 {
		c.negTTL = min(DefaultNegativeTTL, c.ttl)
	}
	if c.maxEntries == 0 {
		c.maxEntries = DefaultMaxEntries
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.mu.entries = make(map[string]*list.Element)
	c.mu.calls = make(map[string]*call)
	return c, nil
}

// Lookup returns the identity of did, from the cache if the entry is fresh.
// A cached failure is returned as the same error until NegativeTTL passes.
func (c *Cache) Lookup(ctx context.Context, did string) (*Identity, error) {
	return c.get(ctx, did, false)
}

// Resolve is Lookup, so that a Cache is a [DIDResolver].
func (c *Cache) Resolve(ctx context.Context, did string) (*Identity, error) {
	return c.get(ctx, did, false)
}

// Refresh resolves did again, bypassing the cache, and stores the result.
// It joins a request in flight only if that one is a Refresh too: a plain
// lookup already in flight may have read the document before whatever
// change made the caller refresh. A transient failure (network, 5xx) does
// not evict a fresh good entry, but is returned to the caller.
func (c *Cache) Refresh(ctx context.Context, did string) (*Identity, error) {
	return c.get(ctx, did, true)
}

// Purge drops did from the cache, for example on an #identity event. A
// request in flight for did still answers its callers, but its result is
// not stored.
func (c *Cache) Purge(did string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.mu.entries[did]; ok {
		c.removeLocked(e)
	}
	if cl, ok := c.mu.calls[did]; ok {
		cl.detached = true
		delete(c.mu.calls, did)
	}
}

// Len is the number of cached entries, good and failed, including expired
// ones not yet dropped.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.lru.Len()
}

func (c *Cache) get(ctx context.Context, did string, force bool) (*Identity, error) {
	// Invalid DIDs are rejected before they can take a cache slot.
	if _, err := syntax.ParseDID(did); err != nil {
		return nil, err
	}
	for {
		c.mu.Lock()
		if !force {
			if ce := c.cachedLocked(did); ce != nil {
				c.mu.Unlock()
				return ce.ident, ce.err
			}
		}
		cl := c.mu.calls[did]
		if cl == nil || (force && !cl.forced) {
			if cl != nil {
				cl.detached = true
			}
			cl = &call{done: make(chan struct{}), forced: force}
			c.mu.calls[did] = cl
			c.mu.Unlock()
			return c.do(ctx, did, cl)
		}
		cl.waiters++
		c.mu.Unlock()
		select {
		case <-cl.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w: %w", did, ErrResolutionFailed, context.Cause(ctx))
		}
		if !cl.abandoned {
			return cl.ident, cl.err
		}
		// The caller doing the request gave up; if we have not, loop and
		// take over (or join whoever took over first).
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", did, ErrResolutionFailed, context.Cause(ctx))
		}
	}
}

// do runs the request for cl on the caller's goroutine and publishes the
// result to cl's waiters.
func (c *Cache) do(ctx context.Context, did string, cl *call) (*Identity, error) {
	finished := false
	defer func() {
		if !finished {
			// The resolver panicked: release the waiters (they retry on
			// their own) and let the panic go on.
			c.finish(did, cl, nil, fmt.Errorf("%s: %w: resolver panicked", did, ErrResolutionFailed), true)
		}
	}()
	ident, err := c.res.Resolve(ctx, did)
	// A failure caused by our caller's own context says nothing about the
	// DID: neither cache it nor hand it to waiters.
	abandoned := err != nil && ctx.Err() != nil
	c.finish(did, cl, ident, err, abandoned)
	finished = true
	return ident, err
}

func (c *Cache) finish(did string, cl *call, ident *Identity, err error, abandoned bool) {
	c.mu.Lock()
	if c.mu.calls[did] == cl {
		delete(c.mu.calls, did)
	}
	cl.ident, cl.err, cl.abandoned = ident, err, abandoned
	if !abandoned && !cl.detached {
		c.storeLocked(did, ident, err)
	}
	c.mu.Unlock()
	close(cl.done)
}

// cachedLocked returns the fresh entry for did, or nil, dropping a stale
// one. storeLocked updates entries in place, so the caller copies the
// fields out before unlocking.
func (c *Cache) cachedLocked(did string) *cacheEntry {
	e, ok := c.mu.entries[did]
	if !ok {
		return nil
	}
	ce := e.Value.(*cacheEntry)
	if !c.now().Before(ce.expires) {
		c.removeLocked(e)
		return nil
	}
	c.mu.lru.MoveToFront(e)
	return ce
}

func (c *Cache) storeLocked(did string, ident *Identity, err error) {
	now := c.now()
	expires := now.Add(c.ttl)
	if err != nil {
		expires = now.Add(c.negTTL)
	}
	if e, ok := c.mu.entries[did]; ok {
		ce := e.Value.(*cacheEntry)
		if err != nil && !isAuthoritative(err) && ce.err == nil && now.Before(ce.expires) {
			// A blip while refreshing must not throw away a good
			// identity that is still within its TTL.
			return
		}
		ce.ident, ce.err, ce.expires = ident, err, expires
		c.mu.lru.MoveToFront(e)
		return
	}
	ce := &cacheEntry{did: did, ident: ident, err: err, expires: expires}
	c.mu.entries[did] = c.mu.lru.PushFront(ce)
	for c.mu.lru.Len() > c.maxEntries {
		c.removeLocked(c.mu.lru.Back())
	}
}

func (c *Cache) removeLocked(e *list.Element) {
	delete(c.mu.entries, e.Value.(*cacheEntry).did)
	c.mu.lru.Remove(e)
}
