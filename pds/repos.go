package pds

import (
	"fmt"
	"sync"

	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/mst"
)

// repoState is one account in memory. mu serializes every write to the
// repo (and lifecycle change of the account) from load to announcement; it
// guards all fields. The map lock (PDS.repos.mu) is never held while
// waiting for mu.
type repoState struct {
	mu   sync.Mutex
	acct accountRec
	key  crypto.PrivateKey
	head headRec
	// tree is the MST at head.Data, kept between writes so hot nodes stay
	// decoded; nil until first needed and after a failed write (whose edits
	// it may hold).
	tree *mst.Tree
	// gone: the account was deleted after this state was looked up.
	gone bool
	// stuck: a write was stored but its events could not be appended (the
	// event log stopped). Later writes are refused until a restart
	// announces it, so the stream never skips a commit.
	stuck bool
}

// lookup returns the state of did, loading it from the store on first use.
func (p *PDS) lookup(did string) (*repoState, error) {
	p.repos.mu.Lock()
	defer p.repos.mu.Unlock()
	if st, ok := p.repos.m[did]; ok {
		return st, nil
	}
	st := &repoState{}
	found, err := getCBOR(p.db, accountKey(did), &st.acct)
	if err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrRepoNotFound, did)
	}
	if found, err = getCBOR(p.db, headKey(uint64(st.acct.UID)), &st.head); err != nil || !found {
		return nil, fmt.Errorf("%w: account %s has no head (%v)", ErrCorrupt, did, err)
	}
	if st.key, err = crypto.ParsePrivateMultibase(st.acct.SigningKey); err != nil {
		return nil, fmt.Errorf("%w: signing key of %s: %w", ErrCorrupt, did, err)
	}
	// Pending events left by a failed publish in this process: Run's
	// recovery announces them at the next start; until then no write may
	// replace them.
	if st.stuck, err = hasKey(p.db, pendingKey(did)); err != nil {
		return nil, err
	}
	p.repos.m[did] = st
	return st, nil
}

// lockRepo looks up did and locks its state; the caller unlocks st.mu.
func (p *PDS) lockRepo(did string) (*repoState, error) {
	st, err := p.lookup(did)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	if st.gone {
		st.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrRepoNotFound, did)
	}
	return st, nil
}

// forget drops did's state from the map (after deletion).
func (p *PDS) forget(did string) {
	p.repos.mu.Lock()
	delete(p.repos.m, did)
	p.repos.mu.Unlock()
}

// writable reports why the account refuses writes, if it does.
func (st *repoState) writable() error {
	switch {
	case st.stuck:
		return fmt.Errorf("%w: a stored write awaits announcement at restart", ErrNotRunning)
	case st.acct.Status == StatusDeactivated:
		return fmt.Errorf("%w: %s", ErrRepoDeactivated, st.acct.DID)
	case st.acct.Status == StatusTakendown:
		return fmt.Errorf("%w: %s", ErrRepoTakendown, st.acct.DID)
	}
	return nil
}
