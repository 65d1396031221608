package identity

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for TTL tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	didA = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	didB = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
	didC = "did:plc:cccccccccccccccccccccccc"
)

// plcDoc is a complete atproto document for did hosted on pds.
func plcDoc(did, pds string) []byte {
	return doc(did,
		`"alsoKnownAs":["at://alice.example.com"]`,
		`"verificationMethod":[`+vm(did+"#atproto", "Multikey", did, k256Key)+`]`,
		`"service":[`+svc("#atproto_pds", pdsType, `"`+pds+`"`)+`]`)
}

type cacheFixture struct {
	srv   *plcServer
	cache *Cache
	clock *fakeClock
}

func newCacheFixture(t *testing.T, cfg CacheConfig) *cacheFixture {
	t.Helper()
	f := &cacheFixture{srv: newPLCServer(t), clock: &fakeClock{t: time.Unix(1_700_000_000, 0)}}
	cfg.Now = f.clock.Now
	c, err := NewCache(newTestResolver(t, Config{PLCURL: f.srv.URL}), cfg)
	if err != nil {
		t.Fatalf("NewCache: %v", err)
	}
	f.cache = c
	return f
}

// wantRequests checks how many requests reached the PLC server so far.
func (f *cacheFixture) wantRequests(t *testing.T, n int64) {
	t.Helper()
	if got := f.srv.requests.Load(); got != n {
		t.Fatalf("%d requests to the PLC server, want %d", got, n)
	}
}

// pds looks did up and returns its PDS endpoint.
func (f *cacheFixture) pds(t *testing.T, did string, refresh bool) string {
	t.Helper()
	get := f.cache.Lookup
	if refresh {
		get = f.cache.Refresh
	}
	ident, err := get(t.Context(), did)
	if err != nil {
		t.Fatalf("lookup %s: %v", did, err)
	}
	pds, err := ident.PDSEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	return pds
}

// waitWaiters blocks until n callers wait on the request in flight for did.
// It synchronizes the test with the cache; it asserts nothing about time.
func waitWaiters(c *Cache, did string, n int) {
	for {
		c.mu.Lock()
		cl := c.mu.calls[did]
		got := 0
		if cl != nil {
			got = cl.waiters
		}
		c.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// newGate returns a channel that blocks the test server's handlers and the
// function that opens it. It is opened at cleanup at the latest, because
// the server's Close waits for handlers, so a failing test does not hang.
func newGate(t *testing.T) (gate chan struct{}, open func()) {
	gate = make(chan struct{})
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	return gate, open
}

// waitCall blocks until a request for did is in flight.
func waitCall(c *Cache, did string) {
	for {
		c.mu.Lock()
		started := c.mu.calls[did] != nil
		c.mu.Unlock()
		if started {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{TTL: time.Hour, NegativeTTL: time.Minute})
	f.srv.set(didA, plcDoc(didA, "https://one.example.com"), 0)

	first, err := f.cache.Lookup(t.Context(), didA)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.cache.Lookup(t.Context(), didA)
	if err != nil || second != first {
		t.Fatalf("second lookup = %p, %v; want the cached %p", second, err, first)
	}
	f.wantRequests(t, 1)

	f.srv.set(didA, plcDoc(didA, "https://two.example.com"), 0)
	f.clock.Advance(time.Hour - time.Second)
	if got := f.pds(t, didA, false); got != "https://one.example.com" {
		t.Errorf("within TTL: PDS %q, want the cached one", got)
	}
	f.wantRequests(t, 1)

	f.clock.Advance(time.Second)
	if got := f.pds(t, didA, false); got != "https://two.example.com" {
		t.Errorf("after TTL: PDS %q, want the new one", got)
	}
	f.wantRequests(t, 2)
}

func TestCacheNegative(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{TTL: time.Hour, NegativeTTL: time.Minute})
	f.srv.set(didB, nil, http.StatusServiceUnavailable)

	for range 3 {
		if _, err := f.cache.Lookup(t.Context(), didA); !errors.Is(err, ErrDIDNotFound) {
			t.Fatalf("error = %v, want ErrDIDNotFound", err)
		}
		if _, err := f.cache.Lookup(t.Context(), didB); !errors.Is(err, ErrResolutionFailed) {
			t.Fatalf("error = %v, want ErrResolutionFailed", err)
		}
	}
	f.wantRequests(t, 2)

	f.srv.set(didA, plcDoc(didA, "https://one.example.com"), 0)
	f.srv.set(didB, plcDoc(didB, "https://one.example.com"), 0)
	f.clock.Advance(time.Minute - time.Second)
	if _, err := f.cache.Lookup(t.Context(), didA); !errors.Is(err, ErrDIDNotFound) {
		t.Fatalf("within NegativeTTL: error = %v, want the cached ErrDIDNotFound", err)
	}
	f.wantRequests(t, 2)

	f.clock.Advance(time.Second)
	f.pds(t, didA, false)
	f.pds(t, didB, false)
	f.wantRequests(t, 4)
}

func TestCacheRefresh(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{})
	f.srv.set(didA, plcDoc(didA, "https://one.example.com"), 0)
	f.pds(t, didA, false)

	// The account moves: a lookup still sees the cached document, a
	// forced refresh sees the new one, and later lookups get it from the
	// cache.
	f.srv.set(didA, plcDoc(didA, "https://two.example.com"), 0)
	if got := f.pds(t, didA, false); got != "https://one.example.com" {
		t.Fatalf("lookup before refresh: %q", got)
	}
	if got := f.pds(t, didA, true); got != "https://two.example.com" {
		t.Fatalf("refresh: %q", got)
	}
	if got := f.pds(t, didA, false); got != "https://two.example.com" {
		t.Fatalf("lookup after refresh: %q", got)
	}
	f.wantRequests(t, 2)
}

func TestCacheRefreshFailure(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{})
	f.srv.set(didA, plcDoc(didA, "https://one.example.com"), 0)
	f.pds(t, didA, false)

	// A transient failure is returned but keeps the good entry.
	f.srv.set(didA, nil, http.StatusBadGateway)
	if _, err := f.cache.Refresh(t.Context(), didA); !errors.Is(err, ErrResolutionFailed) {
		t.Fatalf("refresh error = %v, want ErrResolutionFailed", err)
	}
	if got := f.pds(t, didA, false); got != "https://one.example.com" {
		t.Fatalf("after failed refresh: %q", got)
	}
	f.wantRequests(t, 2)

	// An authoritative answer replaces it.
	f.srv.set(didA, nil, http.StatusGone)
	if _, err := f.cache.Refresh(t.Context(), didA); !errors.Is(err, ErrDIDTombstoned) {
		t.Fatalf("refresh error = %v, want ErrDIDTombstoned", err)
	}
	if _, err := f.cache.Lookup(t.Context(), didA); !errors.Is(err, ErrDIDTombstoned) {
		t.Fatalf("lookup error = %v, want the cached ErrDIDTombstoned", err)
	}
	f.wantRequests(t, 3)
}

func TestCachePurge(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{})
	f.srv.set(didA, plcDoc(didA, "https://one.example.com"), 0)
	f.pds(t, didA, false)
	f.srv.set(didA, plcDoc(didA, "https://two.example.com"), 0)
	f.cache.Purge(didA)
	f.cache.Purge(didB) // absent: no-op
	if f.cache.Len() != 0 {
		t.Fatalf("Len() = %d after purge", f.cache.Len())
	}
	if got := f.pds(t, didA, false); got != "https://two.example.com" {
		t.Fatalf("after purge: %q", got)
	}
	f.wantRequests(t, 2)
}

func TestCacheLRU(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{MaxEntries: 2})
	for _, d := range []string{didA, didB, didC} {
		f.srv.set(d, plcDoc(d, "https://one.example.com"), 0)
	}
	f.pds(t, didA, false)
	f.pds(t, didB, false)
	f.pds(t, didA, false) // A is now more recently used than B
	f.pds(t, didC, false) // evicts B
	f.wantRequests(t, 3)
	if f.cache.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", f.cache.Len())
	}
	f.pds(t, didA, false)
	f.pds(t, didC, false)
	f.wantRequests(t, 3)
	f.pds(t, didB, false)
	f.wantRequests(t, 4)
}

func TestCacheInvalidDIDNotCached(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{})
	for _, d := range []string{"", "did:", "DID:plc:x", "not a did"} {
		if _, err := f.cache.Lookup(t.Context(), d); !errors.Is(err, ErrInvalidDID) {
			t.Errorf("Lookup(%q) error = %v, want ErrInvalidDID", d, err)
		}
	}
	f.wantRequests(t, 0)
	if f.cache.Len() != 0 {
		t.Errorf("Len() = %d, want 0", f.cache.Len())
	}
}

// TestCacheConcurrentLookups checks that callers arriving while a request
// is in flight share it.
func TestCacheConcurrentLookups(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{})
	f.srv.set(didA, plcDoc(didA, "https://one.example.com"), 0)
	release, open := newGate(t)
	f.srv.setGate(func(*http.Request) { <-release })

	const n = 16
	type result struct {
		ident *Identity
		err   error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			ident, err := f.cache.Lookup(t.Context(), didA)
			results <- result{ident, err}
		}()
	}
	waitWaiters(f.cache, didA, n-1)
	open()
	var first *Identity
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if first == nil {
			first = r.ident
		}
		if r.ident != first {
			t.Error("callers got different identities from one request")
		}
	}
	f.wantRequests(t, 1)
}

// TestCacheLeaderGivesUp: the caller doing the request gives up; a waiter
// with a live context takes over instead of inheriting the cancellation,
// and nothing about the cancellation is cached.
func TestCacheLeaderGivesUp(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{})
	f.srv.set(didA, plcDoc(didA, "https://one.example.com"), 0)
	leaderCtx, cancel := context.WithCancel(t.Context())
	arrived := make(chan struct{})
	first := true
	var gateMu sync.Mutex
	f.srv.setGate(func(r *http.Request) {
		gateMu.Lock()
		block := first
		first = false
		gateMu.Unlock()
		if block {
			close(arrived)
			<-r.Context().Done() // the leader's request hangs until it is abandoned
		}
	})

	leaderErr := make(chan error, 1)
	go func() {
		_, err := f.cache.Lookup(leaderCtx, didA)
		leaderErr <- err
	}()
	<-arrived // the leader's request is at the server
	waiterRes := make(chan error, 1)
	go func() {
		_, err := f.cache.Lookup(t.Context(), didA)
		waiterRes <- err
	}()
	waitWaiters(f.cache, didA, 1)
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader error = %v, want context.Canceled", err)
	}
	if err := <-waiterRes; err != nil {
		t.Fatalf("waiter inherited the leader's failure: %v", err)
	}
	f.wantRequests(t, 2)
	f.pds(t, didA, false)
	f.wantRequests(t, 2)
}

// TestCacheWaiterGivesUp: a waiter whose context ends returns at once; the
// request it was waiting on goes on and is cached.
func TestCacheWaiterGivesUp(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{})
	f.srv.set(didA, plcDoc(didA, "https://one.example.com"), 0)
	release, open := newGate(t)
	f.srv.setGate(func(*http.Request) { <-release })

	leaderErr := make(chan error, 1)
	go func() {
		_, err := f.cache.Lookup(t.Context(), didA)
		leaderErr <- err
	}()
	waitCall(f.cache, didA) // so the leader is the goroutine above
	ctx, cancel := context.WithCancel(t.Context())
	waiterErr := make(chan error, 1)
	go func() {
		_, err := f.cache.Lookup(ctx, didA)
		waiterErr <- err
	}()
	waitWaiters(f.cache, didA, 1)
	cancel()
	if err := <-waiterErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter error = %v, want context.Canceled", err)
	}
	open()
	if err := <-leaderErr; err != nil {
		t.Fatal(err)
	}
	f.pds(t, didA, false)
	f.wantRequests(t, 1)
}

// TestCacheRefreshSupersedesLookup: a Refresh does not join a lookup that
// was already in flight (it may have read the old document), and that
// lookup's late result does not overwrite the refreshed entry.
func TestCacheRefreshSupersedesLookup(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, CacheConfig{})
	f.srv.set(didA, plcDoc(didA, "https://one.example.com"), 0)
	oldRead := make(chan struct{})
	release, open := newGate(t)
	var gateMu sync.Mutex
	first := true
	f.srv.setGate(func(r *http.Request) {
		gateMu.Lock()
		block := first
		first = false
		gateMu.Unlock()
		if block {
			close(oldRead)
			<-release
		}
	})
	lookupRes := make(chan *Identity, 1)
	go func() {
		ident, err := f.cache.Lookup(t.Context(), didA)
		if err != nil {
			t.Error(err)
		}
		lookupRes <- ident
	}()
	<-oldRead // the lookup's request has read the old document
	f.srv.set(didA, plcDoc(didA, "https://two.example.com"), 0)
	if got := f.pds(t, didA, true); got != "https://two.example.com" {
		t.Fatalf("Refresh = %q: it joined the lookup already in flight", got)
	}
	open()
	stale := <-lookupRes
	if stale == nil {
		t.FailNow()
	}
	if pds, _ := stale.PDSEndpoint(); pds != "https://one.example.com" {
		t.Fatalf("the lookup in flight got %q, want the old document", pds)
	}
	if got := f.pds(t, didA, false); got != "https://two.example.com" {
		t.Fatalf("after both: %q; the superseded lookup overwrote the refreshed entry", got)
	}
	f.wantRequests(t, 2)
}

func TestNewCacheConfig(t *testing.T) {
	t.Parallel()
	r := newTestResolver(t, Config{})
	c, err := NewCache(r, CacheConfig{TTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c.ttl != 30*time.Second || c.negTTL != 30*time.Second || c.maxEntries != DefaultMaxEntries || c.now == nil {
		t.Errorf("defaults: ttl %v negTTL %v max %d", c.ttl, c.negTTL, c.maxEntries)
	}
	if _, err := NewCache(nil, CacheConfig{}); err == nil {
		t.Error("nil resolver accepted")
	}
	if _, err := NewCache(r, CacheConfig{TTL: -1}); err == nil {
		t.Error("negative TTL accepted")
	}
}

func BenchmarkCacheLookupHit(b *testing.B) {
	r, err := NewResolver(Config{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewCache(r, CacheConfig{})
	if err != nil {
		b.Fatal(err)
	}
	did := "did:key:" + k256Key
	if _, err := c.Lookup(b.Context(), did); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Lookup(b.Context(), did); err != nil {
			b.Fatal(err)
		}
	}
}
