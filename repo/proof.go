package repo

import (
	"errors"
	"fmt"
	"slices"

	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/mst"
)

// Errors of the sync 1.1 proof check.
var (
	ErrCARRoot        = errors.New("repo: CAR slice root is not the commit")
	ErrMissingCommit  = errors.New("repo: commit block missing from CAR slice")
	ErrCommitMismatch = errors.New("repo: commit does not match the event")
	ErrInversion      = errors.New("repo: ops do not invert to prevData")
	ErrMissingRecord  = errors.New("repo: record block missing from CAR slice")
)

// CommitEvidence is what a #commit event hands a receiver to check: the
// fields of the event that the proof check reads.
type CommitEvidence struct {
	Repo     string  // the event's repo DID
	Rev      string  // the event's rev
	Commit   cid.CID // the event's commit CID
	PrevData cid.CID // the MST root before this commit; undefined if the event has none
	Blocks   []byte  // the CAR slice
	Ops      []Op
}

// CheckedCommit is a commit whose CAR slice, structure and ops have been
// checked. Blocks aliases the event's Blocks bytes.
type CheckedCommit struct {
	CID    cid.CID
	Commit *Commit
	Blocks car.Blocks
}

// Record returns the record block an op points at, if the slice carries it.
func (c *CheckedCommit) Record(op Op) ([]byte, bool) {
	if !op.CID.Defined() {
		return nil, false
	}
	b, ok := c.Blocks[op.CID]
	return b, ok
}

// CheckCommitProof runs the sync 1.1 checks that need no outside state besides
// the event itself (everything except the signature, the account's status and
// chain continuity, which the caller owns):
//
//   - the CAR slice parses within limits, and every block matches its CID;
//   - roots[0] is the event's commit, and the commit block is present;
//   - the commit is structurally valid and its did and rev match the event;
//   - the ops are well formed, and each create or update's record is present;
//   - when PrevData is set: inverting the ops on the partial tree in the slice
//     gives exactly PrevData. A node the inversion needs that the slice lacks
//     fails the check (errors.Is(err, mst.ErrMissingBlock)).
//
// Without PrevData (a first commit, or a producer older than sync 1.1) the
// inversion is skipped, but each create and update must still be in the tree.
func CheckCommitProof(ev *CommitEvidence, lim car.Limits) (*CheckedCommit, error) {
	roots, blocks, err := car.ReadBytes(ev.Blocks, lim)
	if err != nil {
		return nil, fmt.Errorf("read commit CAR slice: %w", err)
	}
	if len(roots) == 0 || roots[0] != ev.Commit {
		return nil, fmt.Errorf("%w: roots %v, commit %s", ErrCARRoot, roots, ev.Commit)
	}
	raw, ok := blocks[ev.Commit]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrMissingCommit, ev.Commit)
	}
	commit, err := ParseCommit(raw)
	if err != nil {
		return nil, err
	}
	if err := commit.VerifyStructure(); err != nil {
		return nil, err
	}
	if commit.DID != ev.Repo {
		return nil, fmt.Errorf("%w: commit did %s, event repo %s", ErrCommitMismatch, commit.DID, ev.Repo)
	}
	if commit.Rev != ev.Rev {
		return nil, fmt.Errorf("%w: commit rev %s, event rev %s", ErrCommitMismatch, commit.Rev, ev.Rev)
	}
	requirePrev := ev.PrevData.Defined()
	if err := CheckOps(ev.Ops, requirePrev); err != nil {
		return nil, err
	}
	for _, op := range ev.Ops {
		if op.CID.Defined() {
			if _, ok := blocks[op.CID]; !ok {
				return nil, fmt.Errorf("%w: %s (%s)", ErrMissingRecord, op.CID, op.Path)
			}
		}
	}
	checked := &CheckedCommit{CID: ev.Commit, Commit: commit, Blocks: blocks}
	if !requirePrev {
		return checked, checkOpsInTree(blocks, commit.Data, ev.Ops)
	}
	prev, err := InvertOps(blocks, commit.Data, ev.Ops)
	if err != nil {
		return nil, err
	}
	if prev != ev.PrevData {
		return nil, fmt.Errorf("%w: got %s, want %s", ErrInversion, prev, ev.PrevData)
	}
	return checked, nil
}

// InvertOps undoes ops on the (possibly partial) tree at data and returns the
// root it arrives at: for a valid commit, its prevData. The ops are applied in
// the order sync 1.1 gives (deletes first, then by path); a needed node that bg
// lacks fails with mst.ErrMissingBlock, and an op that does not match the tree
// with ErrInversion.
func InvertOps(bg mst.BlockGetter, data cid.CID, ops []Op) (cid.CID, error) {
	sorted := slices.Clone(ops)
	SortForInversion(sorted)
	changes := make([]mst.Change, len(sorted))
	for i, op := range sorted {
		changes[i] = op.change()
	}
	prev, err := mst.Invert(bg, data, changes)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %w", ErrInversion, err)
	}
	return prev, nil
}

// checkOpsInTree checks that each create and update's record is what the
// commit's tree holds at its path, and that deleted paths are gone.
func checkOpsInTree(blocks car.Blocks, root cid.CID, ops []Op) error {
	tree := mst.Load(blocks, root)
	for _, op := range ops {
		got, found, err := tree.Get(op.Path)
		if err != nil {
			return fmt.Errorf("look up %s: %w", op.Path, err)
		}
		if op.CID.Defined() != found || (found && got != op.CID) {
			return fmt.Errorf("%w: %s is %s in the tree, op says %s", ErrCommitMismatch, op.Path, got, op.CID)
		}
	}
	return nil
}

// CommitSlice builds the CAR slice a sync 1.1 #commit carries, with the
// commit as its root: the signed commit block, the MST nodes of the new tree
// that a receiver needs to invert ops (mst.ProofBlocks), and the new record
// blocks of creates and updates. bg must hold the whole new tree and the
// records.
func CommitSlice(commitCID cid.CID, commitBlock []byte, bg mst.BlockGetter, ops []Op, data cid.CID) ([]byte, error) {
	changes := make([]mst.Change, len(ops))
	for i, op := range ops {
		changes[i] = op.change()
	}
	nodes, err := mst.ProofBlocks(bg, data, changes)
	if err != nil {
		return nil, fmt.Errorf("proof blocks: %w", err)
	}
	out := make([]car.Block, 0, 1+len(nodes)+len(ops))
	out = append(out, car.Block{CID: commitCID, Data: commitBlock})
	for _, c := range append(nodes, recordCIDs(ops)...) {
		b, found, err := bg.GetBlock(c)
		if err != nil {
			return nil, fmt.Errorf("read block %s: %w", c, err)
		}
		if !found {
			return nil, fmt.Errorf("%w: %s", mst.ErrMissingBlock, c)
		}
		out = append(out, car.Block{CID: c, Data: b})
	}
	return car.Encode([]cid.CID{commitCID}, out), nil
}

func recordCIDs(ops []Op) []cid.CID {
	var cids []cid.CID
	seen := make(map[cid.CID]bool, len(ops))
	for _, op := range ops {
		if op.CID.Defined() && !seen[op.CID] {
			seen[op.CID] = true
			cids = append(cids, op.CID)
		}
	}
	return cids
}
