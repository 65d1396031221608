package index

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// RepoState is what the index last applied of a repository: the rev and
// MST root of the newest commit, and whether the chain broke since (a
// commit whose since or prevData did not match), which a resync from the
// repository itself repairs.
type RepoState struct {
	Rev      string
	Data     cid.CID
	Desynced bool
}

// GetRepoState returns did's state; ok is false if the index has not seen
// a commit of it.
func GetRepoState(r pebble.Reader, did string) (RepoState, bool, error) {
	v, ok, err := get(r, key(pRepo, did))
	if err != nil || !ok {
		return RepoState{}, false, err
	}
	if len(v) < 2 || len(v) < 2+int(v[1]) {
		return RepoState{}, false, fmt.Errorf("%w: repo state %s", ErrCorrupt, did)
	}
	n := int(v[1])
	st := RepoState{Desynced: v[0] == 1, Rev: string(v[2 : 2+n])}
	if len(v) > 2+n {
		if st.Data, err = cid.Parse(v[2+n:]); err != nil {
			return RepoState{}, false, fmt.Errorf("%w: repo state %s: %v", ErrCorrupt, did, err)
		}
	}
	return st, true, nil
}

// PutRepoState stores did's state in b.
func PutRepoState(b *pebble.Batch, did string, st RepoState) error {
	if len(st.Rev) > 255 {
		return nil // not a TID; outside bytes, never stored
	}
	v := []byte{0, byte(len(st.Rev))}
	if st.Desynced {
		v[0] = 1
	}
	v = append(v, st.Rev...)
	if st.Data.Defined() {
		v = st.Data.AppendBytes(v)
	}
	if err := b.Set(key(pRepo, did), v, nil); err != nil {
		return fmt.Errorf("store repo state %s: %w", did, err)
	}
	return nil
}

// RecordCIDs returns the path (collection/rkey) and CID of every record of
// did the index holds, for diffing against the repository.
func RecordCIDs(r pebble.Reader, did string) (map[string]cid.CID, error) {
	prefix := key(pRecord, "at://"+did+"/")
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("list records of %s: %w", did, err)
	}
	defer it.Close()
	out := map[string]cid.CID{}
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if len(v) < 1 || len(v) < 1+int(v[0]) {
			return nil, fmt.Errorf("%w: record %s", ErrCorrupt, it.Key()[1:])
		}
		c, err := cid.Parse(v[1 : 1+int(v[0])])
		if err != nil {
			return nil, fmt.Errorf("%w: record %s: %v", ErrCorrupt, it.Key()[1:], err)
		}
		out[string(it.Key()[len(prefix):])] = c
	}
	return out, it.Error()
}
