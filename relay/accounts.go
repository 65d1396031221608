package relay

import (
	"sync"

	"github.com/conflux-atproto/conflux/relay/internal/state"
)

// DefaultAccountCache is how many accounts' state the ingest path keeps in
// memory.
const DefaultAccountCache = 200_000

// accountCache is a write-through cache of account records in front of the
// state DB. Only the ingest path writes account records, and one DID's events
// are processed by one worker at a time, so an entry is never stale. When
// full, an arbitrary entry goes (map iteration order is random): the cache
// only saves a Pebble read and a decode, so precision does not matter.
type accountCache struct {
	mu  sync.Mutex
	max int
	m   map[string]state.Account
}

func newAccountCache(max int) *accountCache {
	if max <= 0 {
		max = DefaultAccountCache
	}
	return &accountCache{max: max, m: make(map[string]state.Account)}
}

func (c *accountCache) get(did string) (*state.Account, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[did]
	if !ok {
		return nil, false
	}
	return &a, true
}

func (c *accountCache) put(a *state.Account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[a.DID]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[a.DID] = *a
}

// getAccount reads did's record through the cache.
func (r *Relay) getAccount(b store, did string) (*state.Account, error) {
	if a, ok := r.accounts.get(did); ok {
		return a, nil
	}
	a, err := state.GetAccount(b, did)
	if err != nil {
		return nil, err
	}
	r.accounts.put(a)
	return a, nil
}

// putAccount writes a's record and caches it.
func (r *Relay) putAccount(b store, a *state.Account) error {
	if err := state.PutAccount(b, a); err != nil {
		return err
	}
	r.accounts.put(a)
	return nil
}
