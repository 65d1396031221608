package pds

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// Validation says how a write's record is checked against its schema.
type Validation int

const (
	// ValidateAuto checks records of collections the validator knows and
	// accepts others (optimistic validation, the reference PDS's default).
	ValidateAuto Validation = iota
	// ValidateOn requires a known schema.
	ValidateOn
	// ValidateOff skips the schema (data-model rules and $type still apply).
	ValidateOff
)

// Write is one record change of ApplyWrites.
type Write struct {
	Action     repo.Action
	Collection string
	// RKey names the record; empty on a create means a new TID.
	RKey string
	// Value is the record in the generic data model (see package dagcbor);
	// nil for a delete. A missing $type is set to Collection.
	Value map[string]any
	// SwapRecord, if defined, must be the record's current CID (update and
	// delete).
	SwapRecord cid.CID
	Validate   Validation
}

// WriteResult is what one write produced. CID is undefined for a delete.
// ValidationStatus is "valid", "unknown" (no schema) or "" (delete, or not
// validated).
type WriteResult struct {
	URI              string
	CID              cid.CID
	ValidationStatus string
}

// CommitResult describes the commit a write made. When every write was a
// no-op (a record put with its current value), no commit is made: Commit and
// Rev are the current head's and Seq is 0.
type CommitResult struct {
	Commit  cid.CID
	Rev     string
	Seq     int64
	Results []WriteResult
}

// prepared is a write checked and encoded outside the repo lock.
type prepared struct {
	Write
	path   string
	block  []byte
	cid    cid.CID
	status string
	blobs  []cid.CID
}

// ApplyWrites applies writes to did's repository as one signed commit and
// announces it on the firehose; it returns once the commit is durable and
// sequenced. swapCommit, if defined, must be the current commit. Nothing is
// written when any write fails.
func (p *PDS) ApplyWrites(ctx context.Context, did string, writes []Write, swapCommit cid.CID) (CommitResult, error) {
	start := time.Now()
	res, err := p.applyWrites(ctx, did, writes, swapCommit)
	p.metrics.observeWrite(len(writes), time.Since(start), err)
	return res, err
}

func (p *PDS) applyWrites(ctx context.Context, did string, writes []Write, swapCommit cid.CID) (CommitResult, error) {
	if len(writes) == 0 {
		return CommitResult{}, fmt.Errorf("%w: no writes", ErrInvalidRequest)
	}
	if len(writes) > MaxWrites {
		return CommitResult{}, fmt.Errorf("%w: %d writes, at most %d", ErrInvalidRequest, len(writes), MaxWrites)
	}
	preps := make([]prepared, len(writes))
	seen := make(map[string]bool, len(writes))
	for i, w := range writes {
		if err := p.prepare(&preps[i], w); err != nil {
			if len(writes) > 1 {
				err = fmt.Errorf("write %d: %w", i, err)
			}
			return CommitResult{}, err
		}
		if seen[preps[i].path] {
			return CommitResult{}, fmt.Errorf("%w: %s written twice", ErrInvalidRequest, preps[i].path)
		}
		seen[preps[i].path] = true
	}
	if err := p.enter(ctx); err != nil {
		return CommitResult{}, err
	}
	defer p.leave()
	st, err := p.lockRepo(did)
	if err != nil {
		return CommitResult{}, err
	}
	defer st.mu.Unlock()
	if err := st.writable(); err != nil {
		return CommitResult{}, err
	}
	if swapCommit.Defined() && swapCommit != st.head.Commit {
		return CommitResult{}, fmt.Errorf("%w: commit is %s, not %s", ErrInvalidSwap, st.head.Commit, swapCommit)
	}
	if err := p.checkBlobs(st, preps); err != nil {
		return CommitResult{}, err
	}
	return p.commit(ctx, st, preps)
}

// prepare checks one write's names and record and encodes the record.
func (p *PDS) prepare(pw *prepared, w Write) error {
	pw.Write = w
	if _, err := syntax.ParseNSID(w.Collection); err != nil {
		return fmt.Errorf("%w: collection: %w", ErrInvalidRequest, err)
	}
	switch w.Action {
	case repo.Create:
		if pw.RKey == "" {
			pw.RKey = string(p.cfg.Clock.Next())
		}
	case repo.Update, repo.Delete:
		if w.RKey == "" {
			return fmt.Errorf("%w: %s needs an rkey", ErrInvalidRequest, w.Action)
		}
	default:
		return fmt.Errorf("%w: unknown action %q", ErrInvalidRequest, w.Action)
	}
	if _, err := syntax.ParseRecordKey(pw.RKey); err != nil {
		return fmt.Errorf("%w: rkey: %w", ErrInvalidRequest, err)
	}
	pw.path = w.Collection + "/" + pw.RKey
	if w.Action == repo.Delete {
		return nil
	}
	if w.Value == nil {
		return fmt.Errorf("%w: record: missing", ErrInvalidRecord)
	}
	return p.prepareRecord(pw)
}

// commit applies preps to the locked repo, then stores, signs and announces
// the commit. Any failure after the tree was touched drops the cached tree,
// which may hold a partial edit.
func (p *PDS) commit(ctx context.Context, st *repoState, preps []prepared) (CommitResult, error) {
	uid := uint64(st.acct.UID)
	tree := st.tree
	if tree == nil {
		tree = mst.Load(blockStore{p.db, uid}, st.head.Data)
	}
	st.tree = nil // restored only on success
	ops, results, err := applyToTree(tree, st.acct.DID, preps)
	if err != nil {
		return CommitResult{}, err
	}
	if len(ops) == 0 {
		st.tree = tree
		return CommitResult{Commit: st.head.Commit, Rev: st.head.Rev, Results: results}, nil
	}
	b := p.db.NewBatch()
	defer b.Close()
	for i := range preps {
		pw := &preps[i]
		if pw.Action == repo.Delete {
			if err := b.Delete(recordKey(uid, pw.path), nil); err != nil {
				return CommitResult{}, err
			}
			continue
		}
		if err := b.Set(recordKey(uid, pw.path), pw.cid.Bytes(), nil); err != nil {
			return CommitResult{}, err
		}
	}
	head, ev, err := p.signCommit(st, tree, b, preps, ops)
	if err != nil {
		return CommitResult{}, err
	}
	evs, err := p.publish(ctx, st.acct.DID, b, []event{ev})
	if err != nil {
		return CommitResult{}, p.publishFailed(st, err)
	}
	st.head, st.tree = head, tree
	p.metrics.ops(ops)
	return CommitResult{Commit: head.Commit, Rev: head.Rev, Seq: evs[0].Seq, Results: results}, nil
}

// publishFailed records a failed publish: if the batch was committed, the
// state moved on disk, and the repo stops taking writes until a restart
// recovers the announcement.
func (p *PDS) publishFailed(st *repoState, err error) error {
	if ok, rerr := hasKey(p.db, pendingKey(st.acct.DID)); rerr != nil || ok {
		st.stuck = true
		p.log.Error("write stored but not announced; the repo refuses writes until restart", "did", st.acct.DID, "err", err)
	}
	return err
}

// applyToTree edits tree with preps and returns the ops (in write order) and
// the per-write results. A put of a record's current value is a no-op and
// yields no op.
func applyToTree(tree *mst.Tree, did string, preps []prepared) ([]repo.Op, []WriteResult, error) {
	ops := make([]repo.Op, 0, len(preps))
	results := make([]WriteResult, len(preps))
	for i := range preps {
		pw := &preps[i]
		uri := "at://" + did + "/" + pw.path
		if pw.SwapRecord.Defined() {
			cur, _, err := tree.Get(pw.path)
			if err != nil {
				return nil, nil, fmt.Errorf("read %s: %w", pw.path, err)
			}
			if cur != pw.SwapRecord {
				return nil, nil, fmt.Errorf("%w: %s is %s, not %s", ErrInvalidSwap, pw.path, cidString(cur), pw.SwapRecord)
			}
		}
		if pw.Action == repo.Delete {
			prev, err := tree.Delete(pw.path)
			if err != nil {
				return nil, nil, fmt.Errorf("delete %s: %w", pw.path, err)
			}
			if !prev.Defined() {
				return nil, nil, fmt.Errorf("%w: %s", ErrRecordNotFound, pw.path)
			}
			ops = append(ops, repo.Op{Action: repo.Delete, Path: pw.path, Prev: prev})
			continue
		}
		prev, err := tree.Put(pw.path, pw.cid)
		if err != nil {
			return nil, nil, fmt.Errorf("put %s: %w", pw.path, err)
		}
		results[i] = WriteResult{URI: uri, CID: pw.cid, ValidationStatus: pw.status}
		switch {
		case pw.Action == repo.Create && prev.Defined():
			return nil, nil, fmt.Errorf("%w: %s already exists", ErrInvalidRequest, pw.path)
		case !prev.Defined():
			ops = append(ops, repo.Op{Action: repo.Create, Path: pw.path, CID: pw.cid})
		case prev != pw.cid:
			ops = append(ops, repo.Op{Action: repo.Update, Path: pw.path, CID: pw.cid, Prev: prev})
		}
	}
	return ops, results, nil
}

// signCommit writes the new tree's blocks, the records and a new signed
// commit into b, and builds the #commit event. It returns the new head.
func (p *PDS) signCommit(st *repoState, tree *mst.Tree, b *pebble.Batch, preps []prepared, ops []repo.Op) (headRec, *firehose.Commit, error) {
	uid := uint64(st.acct.UID)
	p.cfg.Clock.Observe(syntax.TID(st.head.Rev))
	rev := string(p.cfg.Clock.Next())
	if rev <= st.head.Rev {
		return headRec{}, nil, fmt.Errorf("%w: clock gave rev %s, not after %s", ErrCorrupt, rev, st.head.Rev)
	}
	mem := make(map[cid.CID][]byte, 8+len(preps))
	put := func(c cid.CID, data []byte) error {
		mem[c] = data
		return putBlock(b, uid, rev, c, data)
	}
	if err := tree.WriteBlocks(put); err != nil {
		return headRec{}, nil, fmt.Errorf("write tree: %w", err)
	}
	data, err := tree.Root()
	if err != nil {
		return headRec{}, nil, err
	}
	for i := range preps {
		if preps[i].block != nil {
			if err := put(preps[i].cid, preps[i].block); err != nil {
				return headRec{}, nil, err
			}
		}
	}
	c := repo.Commit{DID: st.acct.DID, Version: repo.Version, Data: data, Rev: rev}
	if err := c.Sign(st.key); err != nil {
		return headRec{}, nil, fmt.Errorf("sign commit: %w", err)
	}
	commitCID, block, err := c.Block()
	if err != nil {
		return headRec{}, nil, err
	}
	if err := putBlock(b, uid, rev, commitCID, block); err != nil {
		return headRec{}, nil, err
	}
	slice, err := repo.CommitSlice(commitCID, block, overlay{mem, blockStore{p.db, uid}}, ops, data)
	if err != nil {
		return headRec{}, nil, fmt.Errorf("commit slice: %w", err)
	}
	head := headRec{Commit: commitCID, Rev: rev, Data: data}
	if err := setCBOR(b, headKey(uid), &head); err != nil {
		return headRec{}, nil, err
	}
	ev := &firehose.Commit{
		Repo: st.acct.DID, Commit: commitCID, Rev: rev, Since: st.head.Rev,
		Blocks: slice, Ops: repoOps(ops), PrevData: st.head.Data,
	}
	return head, ev, nil
}

func repoOps(ops []repo.Op) []firehose.RepoOp {
	out := make([]firehose.RepoOp, len(ops))
	for i, op := range ops {
		out[i] = firehose.RepoOp{Action: string(op.Action), Path: op.Path, CID: op.CID, Prev: op.Prev}
	}
	return out
}

func cidString(c cid.CID) string {
	if !c.Defined() {
		return "absent"
	}
	return c.String()
}

// isNotFound reports whether err means the account or record does not exist.
func isNotFound(err error) bool {
	return errors.Is(err, ErrRepoNotFound) || errors.Is(err, ErrRecordNotFound)
}
