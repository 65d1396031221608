// Package state keeps the relay's durable per-account and per-host state in
// Pebble: each account's last verified rev, commit and data CIDs and its local
// and upstream hosting status; each host's status and limits; domain bans.
//
// Writes go through a pebble.Writer and are not synced: on the ingest path a
// lost state write only makes the host resend the event (the relay's crash
// ordering is in package relay's doc). Callers that must survive a crash on
// their own (admin changes) call Sync afterwards.
package state

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// ErrNotFound: no such account or host.
var ErrNotFound = errors.New("state: not found")

// Local statuses of an account (the relay's own view).
const (
	LocalActive        = "active"
	LocalTakendown     = "takendown"
	LocalSuspended     = "suspended"
	LocalHostThrottled = "host-throttled"
)

// UpstreamInactive is the upstream status of an #account{active:false}
// without a status.
const UpstreamInactive = "inactive"

// Account is one DID's state. Rev, Commit and Data are empty until a commit
// or sync was accepted; Data is the next commit's expected prevData.
type Account struct {
	DID string `json:"did"`
	// UID numbers accounts in the order the relay first saw them (1, 2,
	// ...): listRepos pages by it, as the reference relay does.
	UID    uint64  `json:"uid,omitempty"`
	Host   string  `json:"host"`
	Rev    string  `json:"rev,omitempty"`
	Commit cid.CID `json:"commit,omitzero"`
	Data   cid.CID `json:"data,omitzero"`
	// Local is filled from the local-status keyspace (see keys.go), not stored
	// in the record.
	Local    string `json:"-"`
	Upstream string `json:"upstream"`
	// UpstreamActive is the active flag of the last upstream #account.
	UpstreamActive bool `json:"upstreamActive"`
	// Breaks counts chain discontinuities seen (since/prevData mismatch).
	Breaks int64 `json:"breaks,omitempty"`
}

// Active is the public active flag: locally active (or throttled by status,
// as the spec allows) and active upstream.
func (a *Account) Active() bool {
	localOK := a.Local == LocalActive || a.Local == ""
	return localOK && a.UpstreamActive
}

// Status is the public status: the local one when it is not active (a
// host-throttled account reports throttled), otherwise the upstream one;
// empty (omitted) when there is nothing to say.
func (a *Account) Status() string {
	switch a.Local {
	case LocalActive, "":
	case LocalHostThrottled:
		return "throttled"
	default:
		return a.Local
	}
	if a.Upstream == LocalActive || a.Upstream == UpstreamInactive {
		return ""
	}
	return a.Upstream
}

// GetAccount reads did's account from r.
func GetAccount(r pebble.Reader, did string) (*Account, error) {
	b, closer, err := r.Get(accountKey(did))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("account %s: %w", did, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", did, err)
	}
	defer closer.Close()
	a, err := decodeAccount(did, b)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", did, err)
	}
	return a, nil
}

// PutAccount writes a's record into w. A new account (UID just assigned)
// also needs IndexAccount.
func PutAccount(w pebble.Writer, a *Account) error {
	var buf [256]byte
	return w.Set(accountKey(a.DID), appendAccount(buf[:0], a), pebble.NoSync)
}

// IndexAccount records a's UID, the listRepos order.
func IndexAccount(w pebble.Writer, a *Account) error {
	if a.UID == 0 {
		return fmt.Errorf("index account %s: no UID", a.DID)
	}
	return w.Set(uidKey(a.UID), []byte(a.DID), pebble.NoSync)
}

// NextUID returns the UID after the highest one indexed (1 when none is).
func NextUID(r pebble.Reader) (uint64, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixUID}, UpperBound: upperBound(prefixUID)})
	if err != nil {
		return 0, fmt.Errorf("next uid: %w", err)
	}
	defer it.Close()
	if !it.Last() {
		return 1, it.Error()
	}
	uid, err := decodeUIDKey(it.Key())
	if err != nil {
		return 0, fmt.Errorf("next uid: %w", err)
	}
	return uid + 1, nil
}

// ListAccounts calls fn for accounts in DID order, starting after the DID
// after (empty for the start), until fn returns false.
func ListAccounts(r pebble.Reader, after string, fn func(*Account) bool) error {
	lower := accountKey(after)
	if after != "" {
		lower = append(lower, 0)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upperBound(prefixAccount)})
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		a, err := decodeAccount(string(it.Key()[1:]), it.Value())
		if err != nil {
			return fmt.Errorf("list accounts: %q: %w", it.Key(), err)
		}
		if !fn(a) {
			break
		}
	}
	return it.Error()
}

// ListAccountsByUID calls fn for accounts in UID order, starting after the
// UID after (0 for the start), until fn returns false.
func ListAccountsByUID(r pebble.Reader, after uint64, fn func(*Account) bool) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: uidKey(after + 1), UpperBound: upperBound(prefixUID)})
	if err != nil {
		return fmt.Errorf("list accounts by uid: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		a, err := GetAccount(r, string(it.Value()))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("list accounts by uid: %w", err)
		}
		if !fn(a) {
			break
		}
	}
	return it.Error()
}

// AssignUIDs gives every account without a UID (records written before
// UIDs existed) the next ones, in DID order, and returns the next free UID.
func AssignUIDs(db *pebble.DB) (uint64, error) {
	next, err := NextUID(db)
	if err != nil {
		return 0, err
	}
	b := db.NewBatch()
	defer b.Close()
	err = ListAccounts(db, "", func(a *Account) bool {
		if a.UID != 0 {
			return true
		}
		a.UID, next = next, next+1
		if err = PutAccount(b, a); err == nil {
			err = IndexAccount(b, a)
		}
		return err == nil
	})
	if err != nil {
		return 0, fmt.Errorf("assign uids: %w", err)
	}
	if b.Empty() {
		return next, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("assign uids: %w", err)
	}
	return next, nil
}

func getJSON(r pebble.Reader, key []byte, v any) error {
	b, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

func putJSON(w pebble.Writer, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return w.Set(key, b, pebble.NoSync)
}

func unmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// GetLocal returns did's local status; LocalActive when none is stored.
func GetLocal(r pebble.Reader, did string) (string, error) {
	b, closer, err := r.Get(localKey(did))
	if errors.Is(err, pebble.ErrNotFound) {
		return LocalActive, nil
	}
	if err != nil {
		return "", fmt.Errorf("local status %s: %w", did, err)
	}
	defer closer.Close()
	return string(b), nil
}

// SetLocal stores did's local status.
func SetLocal(w pebble.Writer, did, status string) error {
	if status == LocalActive {
		return w.Delete(localKey(did), pebble.NoSync)
	}
	return w.Set(localKey(did), []byte(status), pebble.NoSync)
}

// ListLocal calls fn for every account with a local status other than active.
func ListLocal(r pebble.Reader, fn func(did, status string)) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixLocal}, UpperBound: upperBound(prefixLocal)})
	if err != nil {
		return fmt.Errorf("list local statuses: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		fn(string(it.Key()[1:]), string(it.Value()))
	}
	return it.Error()
}

// Sync makes every earlier write to db durable (one WAL fsync).
func Sync(db *pebble.DB) error {
	if err := db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("sync state: %w", err)
	}
	return nil
}
