package verify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// DefaultFutureSkew is how far in the future a rev may be.
const DefaultFutureSkew = 5 * time.Minute

// Identities resolves DIDs with a cache that can be bypassed once.
// *identity.Cache implements it.
type Identities interface {
	Lookup(ctx context.Context, did string) (*identity.Identity, error)
	Refresh(ctx context.Context, did string) (*identity.Identity, error)
}

// DefaultRefreshInterval is how often one DID's identity may be force
// refreshed: a host flooding bad signatures must not become a flood of
// directory requests.
const DefaultRefreshInterval = time.Minute

// Config configures a Verifier.
type Config struct {
	Identities Identities
	// RefreshInterval: default DefaultRefreshInterval.
	RefreshInterval time.Duration
	// FutureSkew: default DefaultFutureSkew.
	FutureSkew time.Duration
	// Now: default time.Now.
	Now func() time.Time
	// Slots, if positive, is how many verifications may run at once
	// (typically GOMAXPROCS): the checks are pure CPU, and callers with
	// many more goroutines than CPUs should not have them all runnable at
	// once. A forced identity refresh (network) gives its slot up while it
	// waits.
	Slots int
}

// Verifier checks upstream events. It is safe for concurrent use.
type Verifier struct {
	ids      Identities
	skew     time.Duration
	now      func() time.Time
	interval time.Duration
	mu       sync.Mutex
	// refreshed holds each DID's last forced refresh; cleared when large.
	refreshed map[string]time.Time
	slots     chan struct{} // nil: no limit
	// hosts memoizes HostOf: every event needs its DID's PDS host, and
	// accounts share a few endpoints. Cleared when large.
	hosts struct {
		sync.RWMutex
		m map[string]string
	}
}

// maxHostMemo bounds the HostOf memo (endpoints are few in practice; a
// directory full of distinct ones only costs re-parsing).
const maxHostMemo = 4096

// hostOf is HostOf through the memo.
func (v *Verifier) hostOf(endpoint string) (string, error) {
	v.hosts.RLock()
	h, ok := v.hosts.m[endpoint]
	v.hosts.RUnlock()
	if ok {
		return h, nil
	}
	h, err := HostOf(endpoint)
	if err != nil {
		return "", err
	}
	v.hosts.Lock()
	if len(v.hosts.m) >= maxHostMemo {
		clear(v.hosts.m)
	}
	v.hosts.m[endpoint] = h
	v.hosts.Unlock()
	return h, nil
}

// New returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Identities == nil {
		return nil, errors.New("verify: Identities is required")
	}
	v := &Verifier{ids: cfg.Identities, skew: cfg.FutureSkew, now: cfg.Now, interval: cfg.RefreshInterval, refreshed: map[string]time.Time{}}
	v.hosts.m = map[string]string{}
	if cfg.Slots > 0 {
		v.slots = make(chan struct{}, cfg.Slots)
	}
	if v.interval <= 0 {
		v.interval = DefaultRefreshInterval
	}
	if v.skew <= 0 {
		v.skew = DefaultFutureSkew
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Prior is the account's stored state; zero when nothing was accepted yet.
type Prior struct {
	Rev  string
	Data cid.CID
}

// Known reports whether a commit or sync was accepted before.
func (p Prior) Known() bool { return p.Rev != "" }

// Result is an accepted event's new state and the warnings counted on it.
type Result struct {
	Rev      string
	Commit   cid.CID
	Data     cid.CID
	Warnings []Reason
}

// slot is a held verification slot (see Config.Slots).
type slot struct {
	v    *Verifier
	held bool
}

// Reserve takes one verification slot away until the returned function is
// called, waiting for it to be free: a caller keeps a CPU for other work
// (the relay keeps one for delivery while anyone subscribes). Without
// slots it does nothing.
func (v *Verifier) Reserve() (release func()) {
	if v.slots == nil {
		return func() {}
	}
	v.slots <- struct{}{}
	var once sync.Once
	return func() { once.Do(func() { <-v.slots }) }
}

func (s *slot) take(ctx context.Context) error {
	if s.v.slots == nil || s.held {
		return nil
	}
	select {
	case s.v.slots <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slot) release() {
	if s.held {
		<-s.v.slots
		s.held = false
	}
}

// HostOf returns the host (lower-case, default port dropped) of a PDS
// endpoint URL, the form hosts are named by.
func HostOf(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("bad PDS endpoint %q", endpoint)
	}
	h := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && strings.HasSuffix(h, ":443"):
		h = strings.TrimSuffix(h, ":443")
	case u.Scheme == "http" && strings.HasSuffix(h, ":80"):
		h = strings.TrimSuffix(h, ":80")
	}
	return h, nil
}

// Resolve returns did's identity and its PDS host, re-resolving once,
// bypassing the cache, when the cached PDS is not host (the account may just
// have migrated to it). A mismatch that survives the refresh is
// ReasonWrongHost; the identity is still returned so the caller can tell
// where the account lives.
func (v *Verifier) Resolve(ctx context.Context, did, host string) (*identity.Identity, error) {
	id, pds, err := v.lookup(ctx, did, false)
	if err == nil && pds == host {
		return id, nil
	}
	id, pds, err = v.lookup(ctx, did, true)
	if err != nil {
		return nil, err
	}
	if pds != host {
		return id, reject(ReasonWrongHost, fmt.Errorf("%s is hosted at %s, event from %s", did, pds, host))
	}
	return id, nil
}

// Refresh forces a fresh resolution of did, unless one was forced within
// the refresh interval (then the cached identity is returned), so a flood of
// bad signatures or foreign events cannot become a flood of directory
// requests.
func (v *Verifier) Refresh(ctx context.Context, did string) (*identity.Identity, error) {
	now := v.now()
	v.mu.Lock()
	last, ok := v.refreshed[did]
	allowed := !ok || now.Sub(last) >= v.interval
	if allowed {
		if len(v.refreshed) >= 100_000 {
			clear(v.refreshed)
		}
		v.refreshed[did] = now
	}
	v.mu.Unlock()
	if !allowed {
		return v.ids.Lookup(ctx, did)
	}
	return v.ids.Refresh(ctx, did)
}

func (v *Verifier) lookup(ctx context.Context, did string, refresh bool) (*identity.Identity, string, error) {
	get := v.ids.Lookup
	if refresh {
		get = v.Refresh
	}
	id, err := get(ctx, did)
	if errors.Is(err, identity.ErrDIDTombstoned) {
		return nil, "", reject(ReasonTombstoned, err)
	}
	if err != nil {
		return nil, "", reject(ReasonIdentity, err)
	}
	ep, err := id.PDSEndpoint()
	if err != nil {
		return nil, "", reject(ReasonIdentity, err)
	}
	pds, err := v.hostOf(ep)
	if err != nil {
		return nil, "", reject(ReasonIdentity, err)
	}
	return id, pds, nil
}

// CheckShape is step 1: sizes and deprecated flags. It needs no state, so
// the caller runs it before any lookup.
func CheckShape(ev *firehose.Commit) error {
	switch {
	case len(ev.Blocks) > firehose.MaxBlocksSize:
		return reject(ReasonBlocksTooBig, fmt.Errorf("%d bytes", len(ev.Blocks)))
	case len(ev.Ops) > firehose.MaxOps:
		return reject(ReasonTooManyOps, fmt.Errorf("%d ops", len(ev.Ops)))
	case ev.TooBig || ev.Rebase:
		return reject(ReasonDeprecatedFlag, nil)
	}
	return nil
}

// CheckRev checks a rev against the clock and the stored rev: steps 5's
// future and stale checks, cheap enough to run before parsing the CAR.
func (v *Verifier) CheckRev(rev string, prior Prior) error {
	t, err := syntax.ParseTID(rev)
	if err != nil {
		return reject(ReasonBadRev, err)
	}
	if t.Time().After(v.now().Add(v.skew)) {
		return reject(ReasonFutureRev, fmt.Errorf("rev %s is at %s", rev, t.Time().UTC().Format(time.RFC3339)))
	}
	if prior.Known() && rev <= prior.Rev {
		return reject(ReasonStaleRev, fmt.Errorf("rev %s, stored %s", rev, prior.Rev))
	}
	return nil
}

// Commit verifies a #commit (steps 4 to 8; the caller did 1 to 3). lenient
// turns inversion failures and a missing prevData into warnings.
func (v *Verifier) Commit(ctx context.Context, ev *firehose.Commit, id *identity.Identity, prior Prior, lenient bool) (*Result, error) {
	if err := v.CheckRev(ev.Rev, prior); err != nil {
		return nil, err
	}
	sl := slot{v: v}
	if err := sl.take(ctx); err != nil {
		return nil, err
	}
	defer sl.release()
	commit, blocks, err := parseSlice(ev.Blocks, ev.Commit, ev.Repo, ev.Rev)
	if err != nil {
		return nil, err
	}
	if err := v.checkSignature(ctx, &sl, commit, id); err != nil {
		return nil, err
	}
	res := &Result{Rev: commit.Rev, Commit: ev.Commit, Data: commit.Data}
	if prior.Known() && (ev.Since != prior.Rev || (ev.PrevData.Defined() && ev.PrevData != prior.Data)) {
		res.Warnings = append(res.Warnings, WarnDiscontinuity)
	}
	w, err := checkOps(ev, commit, blocks, prior, lenient)
	if err != nil {
		return nil, err
	}
	if w != ReasonNone {
		res.Warnings = append(res.Warnings, w)
	}
	return res, nil
}

// Sync verifies a #sync: the CAR holds just the signed commit. The caller
// compares the result with the stored state (older rev: ignore; same data:
// no-op).
func (v *Verifier) Sync(ctx context.Context, ev *firehose.Sync, id *identity.Identity) (*Result, error) {
	if len(ev.Blocks) > firehose.MaxBlocksSize {
		return nil, reject(ReasonBlocksTooBig, fmt.Errorf("%d bytes", len(ev.Blocks)))
	}
	if err := v.CheckRev(ev.Rev, Prior{}); err != nil {
		return nil, err
	}
	sl := slot{v: v}
	if err := sl.take(ctx); err != nil {
		return nil, err
	}
	defer sl.release()
	roots, _, err := car.ReadBytes(ev.Blocks, car.CommitLimits())
	if err != nil {
		return nil, reject(ReasonBadCAR, err)
	}
	if len(roots) == 0 {
		return nil, reject(ReasonCARRoot, errors.New("no root"))
	}
	commit, _, err := parseSlice(ev.Blocks, roots[0], ev.DID, ev.Rev)
	if err != nil {
		return nil, err
	}
	if err := v.checkSignature(ctx, &sl, commit, id); err != nil {
		return nil, err
	}
	return &Result{Rev: commit.Rev, Commit: roots[0], Data: commit.Data}, nil
}

// parseSlice is steps 4 and 5 (except the rev checks): the CAR, its root, the
// commit block and the commit's did and rev.
func parseSlice(b []byte, want cid.CID, did, rev string) (*repo.Commit, car.Blocks, error) {
	roots, blocks, err := car.ReadBytes(b, car.CommitLimits())
	if err != nil {
		return nil, nil, reject(ReasonBadCAR, err)
	}
	if len(roots) == 0 || roots[0] != want {
		return nil, nil, reject(ReasonCARRoot, fmt.Errorf("%w: roots %v, commit %s", repo.ErrCARRoot, roots, want))
	}
	raw, ok := blocks[want]
	if !ok {
		return nil, nil, reject(ReasonCARRoot, fmt.Errorf("%w: %s", repo.ErrMissingCommit, want))
	}
	commit, err := repo.ParseCommit(raw)
	if err != nil {
		return nil, nil, reject(ReasonBadCommit, err)
	}
	if err := commit.VerifyStructure(); err != nil {
		return nil, nil, reject(ReasonBadCommit, err)
	}
	if commit.DID != did || commit.Rev != rev {
		return nil, nil, reject(ReasonCommitMismatch, fmt.Errorf("commit %s@%s, event %s@%s", commit.DID, commit.Rev, did, rev))
	}
	return commit, blocks, nil
}

// checkSignature is step 6: the current key, then once more with a freshly
// resolved identity (the key may have rotated since it was cached).
func (v *Verifier) checkSignature(ctx context.Context, sl *slot, commit *repo.Commit, id *identity.Identity) error {
	first := verifyWith(commit, id)
	if first == nil {
		return nil
	}
	sl.release() // the refresh may wait on the network
	fresh, err := v.Refresh(ctx, commit.DID)
	if err != nil {
		return reject(ReasonBadSignature, fmt.Errorf("%w (refresh failed: %w)", first, err))
	}
	if err := sl.take(ctx); err != nil {
		return err
	}
	if err := verifyWith(commit, fresh); err != nil {
		return reject(ReasonBadSignature, err)
	}
	return nil
}

func verifyWith(commit *repo.Commit, id *identity.Identity) error {
	if id == nil {
		return errors.New("no identity")
	}
	key, err := id.PublicKey()
	if err != nil {
		return err
	}
	return commit.VerifySignature(key)
}

// checkOps is step 8: op shape, record presence, and the inversion to
// prevData (strict: its failure drops; lenient: a warning, after a second
// try with mst.InvertLenient).
func checkOps(ev *firehose.Commit, commit *repo.Commit, blocks car.Blocks, prior Prior, lenient bool) (Reason, error) {
	ops := ev.Evidence().Ops
	if !ev.PrevData.Defined() {
		if err := repo.CheckOps(ops, false); err != nil {
			return ReasonNone, reject(ReasonBadOps, err)
		}
		if prior.Known() {
			if lenient {
				return WarnNoPrevData, nil
			}
			return ReasonNone, reject(ReasonMissingPrevData, nil)
		}
		// A first commit: nothing to invert to, but the ops must be in
		// the new tree.
		if err := opsInTree(blocks, commit.Data, ops); err != nil {
			if lenient {
				return WarnInversion, nil
			}
			return ReasonNone, reject(ReasonInversion, err)
		}
		return ReasonNone, nil
	}
	if err := repo.CheckOps(ops, true); err != nil {
		return ReasonNone, reject(ReasonBadOps, err)
	}
	for _, op := range ops {
		if op.CID.Defined() {
			if _, ok := blocks[op.CID]; !ok {
				return ReasonNone, reject(ReasonBadOps, fmt.Errorf("%w: %s", repo.ErrMissingRecord, op.Path))
			}
		}
	}
	prev, err := repo.InvertOps(blocks, commit.Data, ops)
	if err == nil && prev == ev.PrevData {
		return ReasonNone, nil
	}
	if err == nil {
		err = fmt.Errorf("%w: got %s, want %s", repo.ErrInversion, prev, ev.PrevData)
	}
	if !lenient {
		return ReasonNone, reject(ReasonInversion, err)
	}
	if p, lerr := invertLenient(blocks, commit.Data, ops); lerr == nil && p == ev.PrevData {
		return ReasonNone, nil
	}
	return WarnInversion, nil
}

func invertLenient(blocks car.Blocks, data cid.CID, ops []repo.Op) (cid.CID, error) {
	sorted := slices.Clone(ops)
	repo.SortForInversion(sorted)
	changes := make([]mst.Change, len(sorted))
	for i, op := range sorted {
		changes[i] = mst.Change{Key: op.Path, New: op.CID, Old: op.Prev}
	}
	return mst.InvertLenient(blocks, data, changes)
}

func opsInTree(blocks car.Blocks, root cid.CID, ops []repo.Op) error {
	tree := mst.Load(blocks, root)
	for _, op := range ops {
		got, found, err := tree.Get(op.Path)
		if err != nil {
			return fmt.Errorf("look up %s: %w", op.Path, err)
		}
		if op.CID.Defined() != found || (found && got != op.CID) {
			return fmt.Errorf("%w: %s", repo.ErrCommitMismatch, op.Path)
		}
	}
	return nil
}
