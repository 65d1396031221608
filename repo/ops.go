package repo

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// Action is what an op does to one record path.
type Action string

// The three op actions of a #commit.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// ErrBadOps reports ops whose shape is wrong (a create with a prev, a path
// twice, an unknown action...).
var ErrBadOps = errors.New("repo: invalid ops")

// Op is one record change in a commit: the repoOp of a #commit event. CID is
// the new record (undefined for a delete) and Prev the old one (undefined for a
// create).
type Op struct {
	Action Action
	Path   string // "<collection NSID>/<rkey>"
	CID    cid.CID
	Prev   cid.CID
}

// Collection and RecordKey split the op's path.
func (o Op) Collection() string {
	c, _, _ := strings.Cut(o.Path, "/")
	return c
}

// RecordKey returns the part of the path after the collection.
func (o Op) RecordKey() string {
	_, r, _ := strings.Cut(o.Path, "/")
	return r
}

// change converts the op into the MST change it describes.
func (o Op) change() mst.Change {
	return mst.Change{Key: o.Path, Old: o.Prev, New: o.CID}
}

// OpsFromChanges turns an MST diff into ops, in the diff's key order.
func OpsFromChanges(changes []mst.Change) []Op {
	ops := make([]Op, len(changes))
	for i, ch := range changes {
		op := Op{Path: ch.Key, CID: ch.New, Prev: ch.Old}
		switch {
		case !ch.Old.Defined():
			op.Action = Create
		case !ch.New.Defined():
			op.Action = Delete
		default:
			op.Action = Update
		}
		ops[i] = op
	}
	return ops
}

// OpsBetween returns the ops that turn the tree at oldRoot into the tree at
// newRoot, reading nodes from bg. oldRoot may be undefined for a first commit.
func OpsBetween(bg mst.BlockGetter, oldRoot, newRoot cid.CID) ([]Op, error) {
	changes, err := mst.Diff(bg, oldRoot, newRoot)
	if err != nil {
		return nil, fmt.Errorf("diff trees: %w", err)
	}
	return OpsFromChanges(changes), nil
}

// CheckOps validates each op's shape: a known action, a valid repo path, a
// create with cid and no prev, an update with both, a delete with prev and no
// cid, and no path twice. When requirePrev is false, ops from producers older
// than sync 1.1 (no prev on updates and deletes) are accepted too.
func CheckOps(ops []Op, requirePrev bool) error {
	seen := make(map[string]struct{}, len(ops))
	for i, op := range ops {
		if !syntax.ValidRepoPath(op.Path) {
			return fmt.Errorf("%w: op %d: invalid repo path %q", ErrBadOps, i, op.Path)
		}
		if _, dup := seen[op.Path]; dup {
			return fmt.Errorf("%w: op %d: path %s appears twice", ErrBadOps, i, op.Path)
		}
		seen[op.Path] = struct{}{}
		var err error
		switch op.Action {
		case Create:
			if !op.CID.Defined() || op.Prev.Defined() {
				err = errors.New("a create needs cid and no prev")
			}
		case Update:
			if !op.CID.Defined() || (requirePrev && !op.Prev.Defined()) {
				err = errors.New("an update needs cid and prev")
			}
		case Delete:
			if op.CID.Defined() || (requirePrev && !op.Prev.Defined()) {
				err = errors.New("a delete needs prev and no cid")
			}
		default:
			err = fmt.Errorf("unknown action %q", op.Action)
		}
		if err != nil {
			return fmt.Errorf("%w: op %d (%s): %w", ErrBadOps, i, op.Path, err)
		}
	}
	return nil
}

// SortForInversion orders ops as the sync 1.1 check applies them: deletes
// first, then by path.
func SortForInversion(ops []Op) {
	slices.SortStableFunc(ops, func(a, b Op) int {
		ad, bd := a.Action == Delete, b.Action == Delete
		switch {
		case ad && !bd:
			return -1
		case bd && !ad:
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
}
