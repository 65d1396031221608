package index

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Actor is the per-account state the firehose's #identity and #account
// events maintain.
type Actor struct {
	DID    string
	Handle string // "" until an #identity event names one
	// Status is "" for an active account, else the #account status
	// (deactivated, deleted, takendown, suspended, ...).
	Status string
}

// Hidden reports whether the account's content must not be served.
func (a Actor) Hidden() bool { return a.Status != "" }

func encodeActor(a Actor) []byte {
	v := make([]byte, 0, 1+len(a.Status)+len(a.Handle))
	v = append(v, byte(len(a.Status)))
	v = append(v, a.Status...)
	return append(v, a.Handle...)
}

func decodeActor(did string, v []byte) (Actor, error) {
	if len(v) < 1 || len(v) < 1+int(v[0]) {
		return Actor{}, fmt.Errorf("%w: actor %s", ErrCorrupt, did)
	}
	n := int(v[0])
	return Actor{DID: did, Status: string(v[1 : 1+n]), Handle: string(v[1+n:])}, nil
}

// GetActor returns the stored state of did (zero Handle and Status if none).
func GetActor(r pebble.Reader, did string) (Actor, error) {
	v, ok, err := get(r, key(pActor, did))
	if err != nil || !ok {
		return Actor{DID: did}, err
	}
	return decodeActor(did, v)
}

func putActor(b *pebble.Batch, a Actor) error {
	var err error
	if a.Handle == "" && a.Status == "" {
		err = b.Delete(key(pActor, a.DID), nil)
	} else {
		err = b.Set(key(pActor, a.DID), encodeActor(a), nil)
	}
	if err != nil {
		return fmt.Errorf("store actor %s: %w", a.DID, err)
	}
	return nil
}

// ApplyIdentity records the handle an #identity event carries ("" keeps
// the old one: the event only says the identity changed).
func (ix *Index) ApplyIdentity(b *pebble.Batch, did, handle string) error {
	handle = strings.ToLower(handle)
	if handle == "" || len(handle) > 253 || strings.IndexByte(handle, 0) >= 0 {
		return nil
	}
	a, err := GetActor(b, did)
	if err != nil {
		return err
	}
	if a.Handle == handle {
		return nil
	}
	if a.Handle != "" {
		// Drop our old handle's mapping unless another DID claimed it since.
		owner, ok, err := get(b, key(pHandle, a.Handle))
		if err != nil {
			return err
		}
		if ok && string(owner) == did {
			if err := b.Delete(key(pHandle, a.Handle), nil); err != nil {
				return fmt.Errorf("delete handle %s: %w", a.Handle, err)
			}
		}
	}
	if err := b.Set(key(pHandle, handle), []byte(did), nil); err != nil {
		return fmt.Errorf("store handle %s: %w", handle, err)
	}
	a.Handle = handle
	return putActor(b, a)
}

// ResolveHandle returns the DID that last claimed handle (lower-cased) in
// an #identity event.
func ResolveHandle(r pebble.Reader, handle string) (string, bool, error) {
	v, ok, err := get(r, key(pHandle, strings.ToLower(handle)))
	return string(v), ok, err
}

// StatusDeleted is the #account status of a deleted account, whose
// records are purged rather than hidden.
const StatusDeleted = "deleted"

// ApplyAccount records an #account event. An active account is shown; any
// other status hides the account's content from every read and takes its
// records out of every count (they count again when it is active again).
// A deleted account is also purged: its records and all their effects are
// removed, and its repository is marked desynchronised, so that if it ever
// comes back its records are fetched again. restored reports that a
// purged account became active (the caller resyncs it).
func (ix *Index) ApplyAccount(b *pebble.Batch, did string, active bool, status string) (restored bool, err error) {
	a, err := GetActor(b, did)
	if err != nil {
		return false, err
	}
	was := a
	switch {
	case active:
		a.Status = ""
	case status == "":
		a.Status = "inactive"
	case len(status) > 64:
		a.Status = status[:64]
	default:
		a.Status = status
	}
	if was.Hidden() != a.Hidden() {
		delta := int64(1)
		if a.Hidden() {
			delta = -1
		}
		if err := ix.recount(b, did, delta); err != nil {
			return false, err
		}
	}
	if err := putActor(b, a); err != nil {
		return false, err
	}
	if a.Status == StatusDeleted {
		return false, ix.purge(b, a)
	}
	return was.Status == StatusDeleted && !a.Hidden(), nil
}

// recount adds (delta +1) or removes (-1) the count contributions that
// depend on did's visibility: those of did's own records, and the follows
// of did by other visible accounts (they count toward their authors'
// follows only while did is visible).
func (ix *Index) recount(b *pebble.Batch, did string, delta int64) error {
	recs, err := recordsOf(b, did)
	if err != nil {
		return err
	}
	for _, r := range recs {
		_, coll, _, _ := splitURI(r.URI)
		if err := ix.counts(b, did, coll, r, delta); err != nil {
			return err
		}
	}
	followers, err := edgeList(b, pFollower, did)
	if err != nil {
		return err
	}
	for _, u := range followers {
		x, _, _, ok := splitURI(u)
		if !ok || x == did {
			continue // a self-follow is one of did's own records
		}
		fa, err := GetActor(b, x)
		if err != nil {
			return err
		}
		if !fa.Hidden() {
			if err := addCount(b, countKey(x, CountFollows), delta); err != nil {
				return err
			}
		}
	}
	return nil
}

// purge removes every record of a (hidden) account and their effects.
func (ix *Index) purge(b *pebble.Batch, a Actor) error {
	recs, err := recordsOf(b, a.DID)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := ix.effects(b, a, r, -1); err != nil {
			return err
		}
		if err := b.Delete(key(pRecord, r.URI), nil); err != nil {
			return fmt.Errorf("purge record %s: %w", r.URI, err)
		}
	}
	st, seen, err := GetRepoState(b, a.DID)
	if err != nil || !seen {
		return err
	}
	st.Desynced = true
	return PutRepoState(b, a.DID, st)
}

// recordsOf returns every stored record of did.
func recordsOf(r pebble.Reader, did string) ([]*Record, error) {
	prefix := key(pRecord, "at://"+did+"/")
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("list records of %s: %w", did, err)
	}
	defer it.Close()
	var out []*Record
	for ok := it.First(); ok; ok = it.Next() {
		rec, err := decodeRecord(string(it.Key()[1:]), it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, it.Error()
}

// edgeList returns every record URI of one per-subject list.
func edgeList(r pebble.Reader, prefixByte byte, subject string) ([]string, error) {
	prefix := append(key(prefixByte, subject), 0)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("list edges of %s: %w", subject, err)
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, string(it.Key()[len(prefix):]))
	}
	return out, it.Error()
}
