package relay

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/firehose/eventlog"
	"github.com/conflux-atproto/conflux/relay/internal/state"
)

// DefaultAccountCache is how many accounts' state the ingest path keeps in
// memory.
const DefaultAccountCache = 200_000

// cacheShards spreads the account cache over several locks: every event of
// every host reads and writes it.
const cacheShards = 32

// accountCache is a write-through cache of account records in front of the
// state DB. Only the ingest path writes account records, and one DID's events
// are processed by one worker at a time, so an entry is never stale. When a
// shard is full, an arbitrary entry goes (map iteration order is random): the
// cache only saves a Pebble read and a decode, so precision does not matter.
// A worker's uncommitted writes are in its stateTx, which is read first, so
// an evicted entry never hides a newer write.
type accountCache struct {
	seed   maphash.Seed
	max    int // per shard
	shards [cacheShards]struct {
		mu sync.Mutex
		m  map[string]state.Account
	}
}

func newAccountCache(max int) *accountCache {
	if max <= 0 {
		max = DefaultAccountCache
	}
	c := &accountCache{seed: maphash.MakeSeed(), max: max/cacheShards + 1}
	for i := range c.shards {
		c.shards[i].m = make(map[string]state.Account)
	}
	return c
}

func (c *accountCache) shard(did string) int {
	return int(maphash.String(c.seed, did) % cacheShards)
}

func (c *accountCache) get(did string) (*state.Account, bool) {
	s := &c.shards[c.shard(did)]
	s.mu.Lock()
	a, ok := s.m[did]
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return &a, true
}

// drop forgets did's entry (its cached state may be ahead of the store).
func (c *accountCache) drop(did string) {
	s := &c.shards[c.shard(did)]
	s.mu.Lock()
	delete(s.m, did)
	s.mu.Unlock()
}

func (c *accountCache) put(a *state.Account) {
	s := &c.shards[c.shard(a.DID)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[a.DID]; !ok && len(s.m) >= c.max {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[a.DID] = *a
}

// stateTx gathers one worker's state writes for several events into one
// Pebble batch, so that a busy host costs one commit per handful of events
// instead of one per event. Its own uncommitted account records are read
// first. It is used by one goroutine.
type stateTx struct {
	db      *pebble.DB
	b       *pebble.Batch
	pending map[string]state.Account
	// The events the batch emits, appended together before the state
	// writes are committed (the crash ordering: durable events first), and
	// for each the index of the upstream event in the worker's batch.
	entries []eventlog.Entry
	owners  []int
	cur     int // the upstream event being processed
}

// stage queues e to be appended with the rest of the worker's batch.
func (tx *stateTx) stage(e eventlog.Entry) {
	tx.entries = append(tx.entries, e)
	tx.owners = append(tx.owners, tx.cur)
}

// discard drops the gathered changes (their events were not appended) and
// the cached states they put ahead of the store.
func (tx *stateTx) discard(cache *accountCache) {
	for did := range tx.pending {
		cache.drop(did)
	}
	clear(tx.pending)
	tx.b.Reset()
	tx.resetEntries()
}

func (tx *stateTx) resetEntries() {
	clear(tx.entries) // let the frames go
	tx.entries, tx.owners = tx.entries[:0], tx.owners[:0]
}

func newStateTx(db *pebble.DB) *stateTx {
	return &stateTx{db: db, b: db.NewBatch(), pending: map[string]state.Account{}}
}

// commit writes the gathered changes (without fsync: the relay's crash
// ordering needs only that they reach the WAL before the host cursor that
// covers them, which the caller writes afterwards).
func (tx *stateTx) commit() error {
	clear(tx.pending)
	tx.resetEntries()
	if tx.b.Empty() {
		return nil
	}
	err := tx.b.Commit(pebble.NoSync)
	tx.b.Reset()
	if err != nil {
		return fmt.Errorf("commit account state: %w", err)
	}
	return nil
}

func (tx *stateTx) close() { _ = tx.b.Close() }

// getAccount reads did's record: the worker's own pending writes, then the
// cache, then the store.
func (r *Relay) getAccount(tx *stateTx, did string) (*state.Account, error) {
	if a, ok := tx.pending[did]; ok {
		return &a, nil
	}
	if a, ok := r.accounts.get(did); ok {
		return a, nil
	}
	a, err := state.GetAccount(tx.db, did)
	if err != nil {
		return nil, err
	}
	r.accounts.put(a)
	return a, nil
}

// putAccount writes a's record into the worker's batch and caches it.
func (r *Relay) putAccount(tx *stateTx, a *state.Account) error {
	if err := state.PutAccount(tx.b, a); err != nil {
		return err
	}
	tx.pending[a.DID] = *a
	r.accounts.put(a)
	return nil
}

// newAccount creates did's record with the next UID.
func (r *Relay) newAccount(tx *stateTx, a *state.Account) error {
	a.UID = r.nextUID.Add(1) - 1
	if err := state.IndexAccount(tx.b, a); err != nil {
		return err
	}
	return r.putAccount(tx, a)
}

// isNotFound reports a missing account.
func isNotFound(err error) bool { return errors.Is(err, state.ErrNotFound) }
