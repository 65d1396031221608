package pds

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// ExportRepo writes did's repository as a CAR whose root is the latest
// commit. With since empty it holds the commit, every MST node in pre-order
// and each record after the node that holds it: exactly the live repository.
// With since a rev, it holds every block written by a commit after since
// (including blocks later replaced: a diff consumer ignores what it does not
// need), the latest commit first.
//
// It reads a Pebble snapshot, so a concurrent write changes nothing here.
func (p *PDS) ExportRepo(w io.Writer, did, since string) error {
	_, _, err := p.readState(did)
	if err != nil {
		return err
	}
	if since != "" {
		if _, err := syntax.ParseTID(since); err != nil {
			return fmt.Errorf("%w: since: %w", ErrInvalidRequest, err)
		}
	}
	snap := p.db.NewSnapshot()
	defer snap.Close()
	// The head is read from the snapshot, not the state: they agree except
	// while a write is committing, and the snapshot is what we export.
	acct, head, err := snapshotState(snap, did)
	if err != nil {
		return err
	}
	uid := uint64(acct.UID)
	bs := blockStore{snap, uid}
	cw, err := car.NewWriter(w, head.Commit)
	if err != nil {
		return err
	}
	commit, err := mustBlock(bs, head.Commit)
	if err != nil {
		return err
	}
	if err := cw.WriteBlock(head.Commit, commit); err != nil {
		return err
	}
	if since != "" {
		return exportSince(cw, snap, uid, since, head.Commit)
	}
	return exportTree(cw, bs, head.Data, 0)
}

// snapshotState reads did's account and head from r.
func snapshotState(r pebble.Reader, did string) (accountRec, headRec, error) {
	var acct accountRec
	var head headRec
	ok, err := getCBOR(r, accountKey(did), &acct)
	if err != nil {
		return acct, head, err
	}
	if !ok {
		return acct, head, fmt.Errorf("%w: %s", ErrRepoNotFound, did)
	}
	if ok, err = getCBOR(r, headKey(uint64(acct.UID)), &head); err != nil || !ok {
		return acct, head, fmt.Errorf("%w: head of %s (%v)", ErrCorrupt, did, err)
	}
	return acct, head, nil
}

func mustBlock(bs blockStore, c cid.CID) ([]byte, error) {
	b, ok, err := bs.GetBlock(c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: block %s missing", ErrCorrupt, c)
	}
	return b, nil
}

// exportTree writes the subtree at node c in pre-order, each entry's record
// before its right subtree. depth bounds the recursion (links never skip a
// layer, so a valid tree is at most mst.MaxLayer+1 deep).
func exportTree(cw *car.Writer, bs blockStore, c cid.CID, depth int) error {
	if depth > mst.MaxLayer+1 {
		return fmt.Errorf("%w: MST deeper than %d", ErrCorrupt, mst.MaxLayer+1)
	}
	raw, err := mustBlock(bs, c)
	if err != nil {
		return err
	}
	if err := cw.WriteBlock(c, raw); err != nil {
		return err
	}
	n, err := mst.DecodeNode(raw)
	if err != nil {
		return fmt.Errorf("%w: node %s: %w", ErrCorrupt, c, err)
	}
	// Copy out what we need: n's keys alias its buffer, and recursion
	// decodes other nodes.
	left := n.Left
	type entry struct{ val, right cid.CID }
	entries := make([]entry, len(n.Entries))
	for i, e := range n.Entries {
		entries[i] = entry{e.Value, e.Right}
	}
	if left.Defined() {
		if err := exportTree(cw, bs, left, depth+1); err != nil {
			return err
		}
	}
	for _, e := range entries {
		rec, err := mustBlock(bs, e.val)
		if err != nil {
			return err
		}
		if err := cw.WriteBlock(e.val, rec); err != nil {
			return err
		}
		if e.right.Defined() {
			if err := exportTree(cw, bs, e.right, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// exportSince writes the blocks of uid written after rev since, except the
// commit (already written).
func exportSince(cw *car.Writer, r pebble.Reader, uid uint64, since string, commit cid.CID) error {
	start := uidKey(prefixBlock, uid)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: prefixEnd(start)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if len(v) < revLen {
			return errors.Join(fmt.Errorf("%w: block value too short", ErrCorrupt), it.Close())
		}
		if string(v[:revLen]) <= since {
			continue
		}
		c, err := cid.Parse(it.Key()[len(start):])
		if err != nil {
			return errors.Join(fmt.Errorf("%w: block key: %w", ErrCorrupt, err), it.Close())
		}
		if c == commit {
			continue
		}
		if err := cw.WriteBlock(c, v[revLen:]); err != nil {
			return errors.Join(err, it.Close())
		}
	}
	return it.Close()
}

// ExportRecord writes the CAR that proves the record at collection/rkey
// (or its absence): the latest commit, the MST nodes on the path from the
// root to where the key is or would be, and the record if present.
func (p *PDS) ExportRecord(w io.Writer, did, collection, rkey string) error {
	path := collection + "/" + rkey
	if !syntax.ValidRepoPath(path) {
		return fmt.Errorf("%w: bad record path %q", ErrInvalidRequest, path)
	}
	if _, _, err := p.readState(did); err != nil {
		return err
	}
	snap := p.db.NewSnapshot()
	defer snap.Close()
	acct, head, err := snapshotState(snap, did)
	if err != nil {
		return err
	}
	bs := blockStore{snap, uint64(acct.UID)}
	commit, err := mustBlock(bs, head.Commit)
	if err != nil {
		return err
	}
	blocks := []car.Block{{CID: head.Commit, Data: commit}}
	key := []byte(path)
	for c, depth := head.Data, 0; c.Defined(); depth++ {
		if depth > mst.MaxLayer+1 {
			return fmt.Errorf("%w: MST deeper than %d", ErrCorrupt, mst.MaxLayer+1)
		}
		raw, err := mustBlock(bs, c)
		if err != nil {
			return err
		}
		blocks = append(blocks, car.Block{CID: c, Data: raw})
		n, err := mst.DecodeNode(raw)
		if err != nil {
			return fmt.Errorf("%w: node %s: %w", ErrCorrupt, c, err)
		}
		next := n.Left
		found := false
		for _, e := range n.Entries {
			cmp := bytes.Compare(e.Key, key)
			if cmp == 0 {
				rec, err := mustBlock(bs, e.Value)
				if err != nil {
					return err
				}
				blocks = append(blocks, car.Block{CID: e.Value, Data: rec})
				found = true
				break
			}
			if cmp > 0 {
				break
			}
			next = e.Right
		}
		if found {
			break
		}
		c = next
	}
	_, err = w.Write(car.Encode([]cid.CID{head.Commit}, blocks))
	return err
}

// ExportBlocks writes a CAR (no roots) of the given blocks of did's repo.
// A block the repo does not hold fails with ErrInvalidRequest before
// anything is written.
func (p *PDS) ExportBlocks(w io.Writer, did string, cids []cid.CID) error {
	acct, _, err := p.readState(did)
	if err != nil {
		return err
	}
	bs := blockStore{p.db, uint64(acct.UID)}
	blocks := make([]car.Block, 0, len(cids))
	for _, c := range cids {
		b, ok, err := bs.GetBlock(c)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: block %s not found", ErrInvalidRequest, c)
		}
		blocks = append(blocks, car.Block{CID: c, Data: b})
	}
	_, err = w.Write(car.Encode(nil, blocks))
	return err
}
