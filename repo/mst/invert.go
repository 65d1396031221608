package mst

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// ErrInversion reports changes that do not describe the tree they are
// inverted on: a value that differs from the change's New, a key listed
// twice, or a change with neither side.
var ErrInversion = errors.New("mst: changes do not invert")

// Invert undoes changes on the tree at newRoot, read from bg (typically the
// partial tree of a #commit's CAR slice), and returns the root CID of the
// tree before them. For each change the tree must hold New at Key (nothing
// when New is undefined); it then gets Old back (the key is removed when Old
// is undefined). Changes are applied deletions first, then by key, the order
// sync 1.1 prescribes; the order does not change the result, only which nodes
// are read.
//
// Before changing anything, Invert reads the covering proof of every changed
// key (see ProofBlocks), so the result is ErrMissingBlock whenever the
// producer left out a node the proof must carry, even one this inversion
// would not have needed. InvertLenient skips that check.
func Invert(bg BlockGetter, newRoot cid.CID, changes []Change) (cid.CID, error) {
	return invert(bg, newRoot, changes, true)
}

// InvertLenient is Invert without the covering-proof check: it reads only
// the nodes the edits themselves touch. It accepts the slices of producers
// that send just the changed nodes, and can back a per-host leniency policy.
func InvertLenient(bg BlockGetter, newRoot cid.CID, changes []Change) (cid.CID, error) {
	return invert(bg, newRoot, changes, false)
}

// ProofBlocks returns the CIDs of the nodes of the tree at newRoot that a
// receiver needs to invert changes: the blocks Invert reads, in the order it
// reads them, root first. That is the union of each changed key's covering
// proof (the path from the root to the key's place and, for a key that is
// present, the paths toward it in the subtrees on either side), plus any node
// the edits read beyond it. bg must hold the whole new tree (at least those
// nodes), and the changes must match it.
func ProofBlocks(bg BlockGetter, newRoot cid.CID, changes []Change) ([]cid.CID, error) {
	rec := &recorder{bg: bg, seen: make(map[cid.CID]struct{})}
	if _, err := invert(rec, newRoot, changes, true); err != nil {
		return nil, err
	}
	return rec.read, nil
}

func invert(bg BlockGetter, newRoot cid.CID, changes []Change, strict bool) (cid.CID, error) {
	ordered, err := inversionOrder(changes)
	if err != nil {
		return cid.Undef, err
	}
	t := Load(bg, newRoot)
	if strict {
		for _, ch := range ordered {
			if err := t.cover(ch.Key); err != nil {
				return cid.Undef, fmt.Errorf("mst: covering proof of %q: %w", ch.Key, err)
			}
		}
	}
	for _, ch := range ordered {
		var prev cid.CID
		if ch.Old.Defined() {
			prev, err = t.Put(ch.Key, ch.Old)
		} else {
			prev, err = t.Delete(ch.Key)
		}
		if err != nil {
			return cid.Undef, fmt.Errorf("mst: invert %q: %w", ch.Key, err)
		}
		if prev != ch.New {
			return cid.Undef, fmt.Errorf("%w: %q holds %s, the change says %s",
				ErrInversion, ch.Key, describe(prev), describe(ch.New))
		}
	}
	return t.Root()
}

func describe(c cid.CID) string {
	if !c.Defined() {
		return "nothing"
	}
	return c.String()
}

// inversionOrder checks changes and returns them sorted deletions first, then
// by key.
func inversionOrder(changes []Change) ([]Change, error) {
	ordered := slices.Clone(changes)
	slices.SortFunc(ordered, func(a, b Change) int {
		ad, bd := !a.New.Defined(), !b.New.Defined()
		switch {
		case ad && !bd:
			return -1
		case bd && !ad:
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	seen := make(map[string]struct{}, len(ordered))
	for _, ch := range ordered {
		if !ch.Old.Defined() && !ch.New.Defined() {
			return nil, fmt.Errorf("%w: change of %q has neither an old nor a new value", ErrInversion, ch.Key)
		}
		if _, dup := seen[ch.Key]; dup {
			return nil, fmt.Errorf("%w: %q changes twice", ErrInversion, ch.Key)
		}
		seen[ch.Key] = struct{}{}
	}
	return ordered, nil
}

// cover loads the covering proof of key: every node on the way to where key
// is or would be and, where key is present, the nodes on the way toward it
// in the subtrees just before and after it (those a removal merges).
func (t *Tree) cover(key string) error {
	if err := t.loadRoot(); err != nil {
		return err
	}
	if t.root == nil {
		return nil
	}
	return t.coverFrom(t.root, key)
}

func (t *Tree) coverFrom(n *node, key string) error {
	if err := t.load(n); err != nil {
		return err
	}
	i, found := n.search(key)
	if c := n.gap(i); c != nil {
		if err := t.coverFrom(c, key); err != nil {
			return err
		}
	}
	if found {
		if c := n.entries[i].right; c != nil {
			return t.coverFrom(c, key)
		}
	}
	return nil
}
