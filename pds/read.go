package pds

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// Record is one stored record.
type Record struct {
	URI   string
	CID   cid.CID
	Value map[string]any
}

// ResolveRepo turns a DID or a handle of this host into the account's DID.
func (p *PDS) ResolveRepo(ident string) (string, error) {
	id, err := syntax.ParseAtIdentifier(ident)
	if err != nil {
		return "", fmt.Errorf("%w: repo: %w", ErrInvalidRequest, err)
	}
	if did, ok := id.AsDID(); ok {
		if _, err := p.lookup(string(did)); err != nil {
			return "", err
		}
		return string(did), nil
	}
	h, _ := id.AsHandle()
	did, ok, err := getBytes(p.db, handleKey(string(h.Normalize())))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrRepoNotFound, h)
	}
	return string(did), nil
}

// readState returns a copy of did's account and head, for readers that do
// not hold the repo lock across their reads.
func (p *PDS) readState(did string) (accountRec, headRec, error) {
	st, err := p.lockRepo(did)
	if err != nil {
		return accountRec{}, headRec{}, err
	}
	defer st.mu.Unlock()
	return st.acct, st.head, nil
}

// GetRecord returns the record at collection/rkey in did's repo.
func (p *PDS) GetRecord(did, collection, rkey string) (Record, error) {
	acct, _, err := p.readState(did)
	if err != nil {
		return Record{}, err
	}
	path := collection + "/" + rkey
	if !syntax.ValidRepoPath(path) {
		return Record{}, fmt.Errorf("%w: bad record path %q", ErrInvalidRequest, path)
	}
	uid := uint64(acct.UID)
	raw, ok, err := getBytes(p.db, recordKey(uid, path))
	if err != nil {
		return Record{}, err
	}
	if !ok {
		return Record{}, fmt.Errorf("%w: %s", ErrRecordNotFound, path)
	}
	return p.loadRecord(p.db, uid, did, path, raw)
}

// loadRecord reads the record whose index value (its CID) is raw.
func (p *PDS) loadRecord(r pebble.Reader, uid uint64, did, path string, raw []byte) (Record, error) {
	c, err := cid.Parse(raw)
	if err != nil {
		return Record{}, fmt.Errorf("%w: record index of %s: %w", ErrCorrupt, path, err)
	}
	block, ok, err := blockStore{r, uid}.GetBlock(c)
	if err != nil {
		return Record{}, err
	}
	if !ok {
		return Record{}, fmt.Errorf("%w: record block %s of %s missing", ErrCorrupt, c, path)
	}
	var v map[string]any
	if err := dagcbor.Unmarshal(block, &v); err != nil {
		return Record{}, fmt.Errorf("%w: record %s: %w", ErrCorrupt, path, err)
	}
	return Record{URI: "at://" + did + "/" + path, CID: c, Value: v}, nil
}

// ListRecords lists up to limit records of a collection after cursor (an
// rkey; "" starts at the end), newest rkey first, or oldest first when
// reverse is set, as the reference PDS orders them. It returns the cursor
// for the next page, "" when there is none.
func (p *PDS) ListRecords(did, collection string, limit int, cursor string, reverse bool) ([]Record, string, error) {
	acct, _, err := p.readState(did)
	if err != nil {
		return nil, "", err
	}
	if _, err := syntax.ParseNSID(collection); err != nil {
		return nil, "", fmt.Errorf("%w: collection: %w", ErrInvalidRequest, err)
	}
	uid := uint64(acct.UID)
	prefix := collectionPrefix(uid, collection)
	opts := &pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)}
	if cursor != "" {
		if reverse {
			opts.LowerBound = append(append([]byte(nil), prefix...), cursor+"\x00"...)
		} else {
			opts.UpperBound = append(append([]byte(nil), prefix...), cursor...)
		}
	}
	snap := p.db.NewSnapshot()
	defer snap.Close()
	it, err := snap.NewIter(opts)
	if err != nil {
		return nil, "", err
	}
	var out []Record
	valid := it.Last
	next := it.Prev
	if reverse {
		valid, next = it.First, it.Next
	}
	for ok := valid(); ok && len(out) < limit; ok = next() {
		path := string(it.Key()[9:])
		rec, err := p.loadRecord(snap, uid, did, path, it.Value())
		if err != nil {
			return nil, "", errors.Join(err, it.Close())
		}
		out = append(out, rec)
	}
	more := it.Valid()
	if err := it.Close(); err != nil {
		return nil, "", err
	}
	if !more || len(out) == 0 {
		return out, "", nil
	}
	last := out[len(out)-1].URI
	return out, last[len("at://"+did+"/"+collection+"/"):], nil
}

// Collections lists the collections did's repo holds records in.
func (p *PDS) Collections(did string) ([]string, error) {
	acct, _, err := p.readState(did)
	if err != nil {
		return nil, err
	}
	start := uidKey(prefixRecord, uint64(acct.UID))
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: prefixEnd(start)})
	if err != nil {
		return nil, err
	}
	var out []string
	for ok := it.First(); ok; {
		path := it.Key()[9:]
		i := 0
		for i < len(path) && path[i] != '/' {
			i++
		}
		coll := string(path[:i])
		out = append(out, coll)
		// Skip the rest of the collection: '0' is the byte after '/'.
		ok = it.SeekGE(append(append(append([]byte(nil), start...), coll...), '0'))
	}
	return out, it.Close()
}
