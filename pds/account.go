package pds

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// CreateAccountInput is what a new account needs. An empty Password (only
// allowed in process, not over XRPC) makes an account that cannot log in,
// as synthetic accounts are.
type CreateAccountInput struct {
	Handle   string
	Password string
	Email    string
}

// Account is an account's public state.
type Account struct {
	DID       string
	Handle    string
	Active    bool
	Status    string // "" when active
	Commit    cid.CID
	Rev       string
	CreatedAt string
}

// maxPasswordLen is bcrypt's input limit.
const maxPasswordLen = 72

// CreateAccount creates an account: a signing key, a DID (registered with
// the PLC directory, or did:web), the empty repository's first commit, and
// the events #identity, #account (active) and #commit, in that order, as the
// account-lifecycle spec gives them.
func (p *PDS) CreateAccount(ctx context.Context, in CreateAccountInput) (Account, error) {
	handle, err := p.checkHandle(in.Handle)
	if err != nil {
		return Account{}, err
	}
	var hash string
	if in.Password != "" {
		if len(in.Password) > maxPasswordLen {
			return Account{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidPassword, maxPasswordLen)
		}
		h, err := bcrypt.GenerateFromPassword([]byte(in.Password), p.cfg.BcryptCost)
		if err != nil {
			return Account{}, fmt.Errorf("hash password: %w", err)
		}
		hash = string(h)
	}
	key, err := generateKey(p.cfg.SigningAlg)
	if err != nil {
		return Account{}, err
	}
	if err := p.enter(ctx); err != nil {
		return Account{}, err
	}
	defer p.leave()
	p.createMu.Lock()
	defer p.createMu.Unlock()
	if _, taken, err := getBytes(p.db, handleKey(handle)); err != nil || taken {
		return Account{}, errors.Join(err, fmt.Errorf("%w: %s", ErrHandleTaken, handle))
	}
	did, err := p.newDID(ctx, handle, key)
	if err != nil {
		return Account{}, err
	}
	if _, exists, err := getBytes(p.db, accountKey(did)); err != nil || exists {
		return Account{}, errors.Join(err, fmt.Errorf("%w: %s exists", ErrHandleTaken, did))
	}
	b := p.db.NewBatch()
	defer b.Close()
	uid, err := nextUID(p.db, b)
	if err != nil {
		return Account{}, err
	}
	st := &repoState{acct: accountRec{
		UID: int64(uid), DID: did, Handle: handle, Email: in.Email, PasswordHash: hash,
		SigningKey: key.Multibase(), CreatedAt: firehose.FormatTime(p.cfg.Now().UTC()),
	}, key: key}
	// The state is in the map, locked, before anything is stored, so a
	// lookup of the new DID (predictable with did:web) waits for the
	// outcome instead of loading a second state for it.
	st.mu.Lock()
	defer st.mu.Unlock()
	p.repos.mu.Lock()
	if _, dup := p.repos.m[did]; dup {
		p.repos.mu.Unlock()
		return Account{}, fmt.Errorf("%w: %s is in use", ErrHandleTaken, did)
	}
	p.repos.m[did] = st
	p.repos.mu.Unlock()
	if err := p.storeNewAccount(ctx, st, b); err != nil {
		if !st.stuck {
			st.gone = true
			p.forget(did)
		}
		return Account{}, err
	}
	p.metrics.accounts.Inc()
	p.log.Info("account created", "did", did, "handle", handle)
	return st.public(), nil
}

// storeNewAccount stores the new account and its first commit, and emits
// #identity, #account and #commit. The caller holds st.mu.
func (p *PDS) storeNewAccount(ctx context.Context, st *repoState, b *pebble.Batch) error {
	if err := p.writeAccount(b, &st.acct); err != nil {
		return err
	}
	tree := mst.New()
	head, commit, err := p.signCommit(st, tree, b, nil, nil)
	if err != nil {
		return err
	}
	evs := []event{
		&firehose.Identity{DID: st.acct.DID, Handle: st.acct.Handle},
		&firehose.Account{DID: st.acct.DID, Active: true},
		commit,
	}
	if _, err := p.publish(ctx, st.acct.DID, b, evs); err != nil {
		return p.publishFailed(st, err)
	}
	st.head, st.tree = head, tree
	return nil
}

// writeAccount puts acct and its indexes into b.
func (p *PDS) writeAccount(b *pebble.Batch, acct *accountRec) error {
	if err := setCBOR(b, accountKey(acct.DID), acct); err != nil {
		return err
	}
	if err := b.Set(handleKey(acct.Handle), []byte(acct.DID), nil); err != nil {
		return err
	}
	return b.Set(uidKey(prefixUID, uint64(acct.UID)), []byte(acct.DID), nil)
}

// checkHandle validates a requested handle: valid syntax, one label under
// one of the host's domains. It returns the normalized (lower-case) handle.
func (p *PDS) checkHandle(s string) (string, error) {
	h, err := syntax.ParseHandle(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidHandle, err)
	}
	handle := string(h.Normalize())
	for _, d := range p.cfg.HandleDomains {
		if name, ok := strings.CutSuffix(handle, d); ok && name != "" && !strings.Contains(name, ".") {
			return handle, nil
		}
	}
	return "", fmt.Errorf("%w: %s is not one label under %s", ErrInvalidHandle, handle, strings.Join(p.cfg.HandleDomains, ", "))
}

func generateKey(alg string) (crypto.PrivateKey, error) {
	var k crypto.PrivateKey
	var err error
	if alg == crypto.AlgP256 {
		k, err = crypto.GenerateP256()
	} else {
		k, err = crypto.GenerateK256()
	}
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return k, nil
}

func (st *repoState) public() Account {
	return Account{
		DID: st.acct.DID, Handle: st.acct.Handle, Active: st.acct.Status == StatusActive,
		Status: st.acct.Status, Commit: st.head.Commit, Rev: st.head.Rev, CreatedAt: st.acct.CreatedAt,
	}
}

// DeactivateAccount deactivates did: writes are refused and #account
// (active false, status deactivated) is emitted. Deactivating a deactivated
// account does nothing.
func (p *PDS) DeactivateAccount(ctx context.Context, did string) error {
	return p.setStatus(ctx, did, StatusDeactivated)
}

// ActivateAccount reactivates did and emits #account (active) followed by
// an empty #commit, as the account-lifecycle spec recommends, so consumers
// see the current head. Activating an active account does nothing.
func (p *PDS) ActivateAccount(ctx context.Context, did string) error {
	return p.setStatus(ctx, did, StatusActive)
}

func (p *PDS) setStatus(ctx context.Context, did, status string) error {
	if err := p.enter(ctx); err != nil {
		return err
	}
	defer p.leave()
	st, err := p.lockRepo(did)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	if st.acct.Status == status {
		return nil
	}
	if st.acct.Status == StatusTakendown {
		return fmt.Errorf("%w: %s", ErrRepoTakendown, did)
	}
	acct := st.acct
	acct.Status = status
	b := p.db.NewBatch()
	defer b.Close()
	if err := setCBOR(b, accountKey(did), &acct); err != nil {
		return err
	}
	evs := []event{&firehose.Account{DID: did, Active: status == StatusActive, Status: status}}
	head := st.head
	tree := st.tree
	if status == StatusActive {
		if tree == nil {
			tree = mst.Load(blockStore{p.db, uint64(acct.UID)}, st.head.Data)
		}
		st.tree = nil
		var commit *firehose.Commit
		if head, commit, err = p.signCommit(st, tree, b, nil, nil); err != nil {
			return err
		}
		evs = append(evs, commit)
	}
	if _, err := p.publish(ctx, did, b, evs); err != nil {
		return p.publishFailed(st, err)
	}
	st.acct, st.head, st.tree = acct, head, tree
	p.log.Info("account status changed", "did", did, "status", statusName(status))
	return nil
}

func statusName(s string) string {
	if s == StatusActive {
		return "active"
	}
	return s
}

// DeleteAccount removes did's repository, records, blobs and account, and
// emits #account (active false, status deleted). The DID itself is not
// tombstoned: a did:plc belongs to its holder.
func (p *PDS) DeleteAccount(ctx context.Context, did string) error {
	if err := p.enter(ctx); err != nil {
		return err
	}
	defer p.leave()
	p.createMu.Lock()
	defer p.createMu.Unlock()
	st, err := p.lockRepo(did)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	uid := uint64(st.acct.UID)
	b := p.db.NewBatch()
	defer b.Close()
	for _, prefix := range []byte{prefixHead, prefixRecord, prefixBlock, prefixBlob} {
		start := uidKey(prefix, uid)
		if err := b.DeleteRange(start, prefixEnd(start), nil); err != nil {
			return err
		}
	}
	for _, k := range [][]byte{accountKey(did), handleKey(st.acct.Handle), uidKey(prefixUID, uid)} {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	ev := &firehose.Account{DID: did, Active: false, Status: StatusDeleted}
	if _, err := p.publish(ctx, did, b, []event{ev}); err != nil {
		return p.publishFailed(st, err)
	}
	st.gone, st.tree = true, nil
	p.forget(did)
	p.metrics.accounts.Dec()
	p.log.Info("account deleted", "did", did)
	return nil
}

// Accounts lists every account in creation order.
func (p *PDS) Accounts() ([]Account, error) {
	var out []Account
	err := p.scanAccounts(0, -1, func(uid uint64, did string) (bool, error) {
		a, err := p.account(did)
		if err != nil {
			return false, err
		}
		out = append(out, a)
		return true, nil
	})
	return out, err
}

// account returns did's public state.
func (p *PDS) account(did string) (Account, error) {
	st, err := p.lockRepo(did)
	if err != nil {
		return Account{}, err
	}
	defer st.mu.Unlock()
	return st.public(), nil
}

// scanAccounts calls fn for up to limit accounts (all if negative) with uid
// >= from, in uid order, until fn returns false.
func (p *PDS) scanAccounts(from uint64, limit int, fn func(uid uint64, did string) (bool, error)) error {
	it, err := p.db.NewIter(&pebble.IterOptions{
		LowerBound: uidKey(prefixUID, from),
		UpperBound: []byte{prefixUID + 1},
	})
	if err != nil {
		return err
	}
	n := 0
	for it.First(); it.Valid() && (limit < 0 || n < limit); it.Next() {
		k := it.Key()
		if len(k) != 9 {
			return errors.Join(fmt.Errorf("%w: uid key %x", ErrCorrupt, k), it.Close())
		}
		more, err := fn(beUint64(k[1:]), string(it.Value()))
		if err != nil || !more {
			return errors.Join(err, it.Close())
		}
		n++
	}
	return it.Close()
}
