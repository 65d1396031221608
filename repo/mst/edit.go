package mst

import (
	"fmt"
	"slices"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Edits keep the tree canonical: the shape after an edit is the one a fresh
// build of the new key set has. They load every node they need before they
// change anything on the way back up, so an edit that fails on a missing
// block leaves the tree as it was (the one exception is noted in Delete).

// Put stores val under key and returns the value it replaced (undefined if
// the key was new).
func (t *Tree) Put(key string, val cid.CID) (cid.CID, error) {
	h, err := checkKey(key)
	if err != nil {
		return cid.Undef, err
	}
	if !val.Defined() {
		return cid.Undef, ErrInvalidValue
	}
	if err := t.loadRoot(); err != nil {
		return cid.Undef, err
	}
	if t.root == nil {
		t.root = leaf(key, val, h)
		return cid.Undef, nil
	}
	if h > t.root.layer {
		// The key goes above the current root: cut the tree in two around it
		// and hang the halves under a new root at the key's height.
		l, r, err := t.split(t.root, key)
		if err != nil {
			return cid.Undef, err
		}
		root := &node{layer: h, loaded: true, left: raise(l, h-1)}
		root.entries = []entry{{key: key, val: val, right: raise(r, h-1)}}
		root.touch()
		t.root = root
		return cid.Undef, nil
	}
	prev, _, err := t.put(t.root, key, h, val)
	return prev, err
}

// put stores key (of height h) in the loaded subtree n, whose layer is at
// least h, and reports whether n changed.
func (t *Tree) put(n *node, key string, h int, val cid.CID) (cid.CID, bool, error) {
	i, found := n.search(key)
	if n.layer == h {
		if found {
			prev := n.entries[i].val
			if prev == val {
				return prev, false, nil
			}
			n.entries[i].val = val
			n.touch()
			return prev, true, nil
		}
		// The new entry splits the subtree of the gap it lands in.
		var l, r *node
		if c := n.gap(i); c != nil {
			var err error
			if l, r, err = t.split(c, key); err != nil {
				return cid.Undef, false, err
			}
		}
		n.setGap(i, l)
		n.entries = slices.Insert(n.entries, i, entry{key: key, val: val, right: r})
		n.touch()
		return cid.Undef, true, nil
	}
	c := n.gap(i)
	if c == nil {
		n.setGap(i, raise(leaf(key, val, h), n.layer-1))
		n.touch()
		return cid.Undef, true, nil
	}
	if err := t.load(c); err != nil {
		return cid.Undef, false, err
	}
	prev, changed, err := t.put(c, key, h, val)
	if changed {
		n.touch()
	}
	return prev, changed, err
}

// leaf returns a new node at layer h holding one entry.
func leaf(key string, val cid.CID, h int) *node {
	n := &node{layer: h, loaded: true, entries: []entry{{key: key, val: val}}}
	n.touch()
	return n
}

// raise wraps n in entry-less nodes up to layer, so no link skips a layer.
func raise(n *node, layer int) *node {
	for n != nil && n.layer < layer {
		up := &node{layer: n.layer + 1, loaded: true, left: n}
		up.touch()
		n = up
	}
	return n
}

// split cuts the subtree n into the keys below key and those above it (key
// itself is not in n: it is higher). Either part may be nil. A side that
// gets all of n is n itself, unchanged.
func (t *Tree) split(n *node, key string) (*node, *node, error) {
	if err := t.load(n); err != nil {
		return nil, nil, err
	}
	i, _ := n.search(key)
	c := n.gap(i)
	var cl, cr *node
	if c != nil {
		var err error
		if cl, cr, err = t.split(c, key); err != nil {
			return nil, nil, err
		}
	}
	// By induction an empty side means the other side is the child itself,
	// unchanged; then n goes whole to one side. (A non-empty side may be the
	// child changed in place, so compare with nil, not with c.)
	switch {
	case i == len(n.entries) && cr == nil:
		return n, nil, nil
	case i == 0 && cl == nil:
		return nil, n, nil
	}
	// Both sides are non-empty now.
	right := &node{layer: n.layer, loaded: true, left: cr, entries: slices.Clone(n.entries[i:])}
	right.touch()
	clear(n.entries[i:])
	n.entries = n.entries[:i]
	n.setGap(i, cl)
	n.touch()
	return n, right, nil
}

// Delete removes key and returns the value it had (undefined if it was not
// there).
//
// When the removal empties the root, the tree shrinks to the first node below
// that has entries, which must be read; if that read fails, the tree is left
// unusable (every later call returns the error).
func (t *Tree) Delete(key string) (cid.CID, error) {
	h, err := checkKey(key)
	if err != nil {
		return cid.Undef, err
	}
	if err := t.loadRoot(); err != nil {
		return cid.Undef, err
	}
	if t.root == nil || h > t.root.layer {
		return cid.Undef, nil
	}
	prev, err := t.del(t.root, key, h)
	if err != nil || !prev.Defined() {
		return prev, err
	}
	for len(t.root.entries) == 0 {
		if t.root.left == nil {
			t.root = nil
			t.emptySaved = false
			break
		}
		if err := t.load(t.root.left); err != nil {
			t.err = fmt.Errorf("mst: tree unusable after a failed delete: %w", err)
			return cid.Undef, t.err
		}
		t.root = t.root.left
	}
	return prev, nil
}

// del removes key (of height h) from the loaded subtree n, whose layer is at
// least h. n may end up empty; the caller unlinks it.
func (t *Tree) del(n *node, key string, h int) (cid.CID, error) {
	i, found := n.search(key)
	if n.layer == h {
		if !found {
			return cid.Undef, nil
		}
		prev := n.entries[i].val
		// The subtrees on both sides of the entry become one.
		m, err := t.merge(n.gap(i), n.entries[i].right)
		if err != nil {
			return cid.Undef, err
		}
		n.entries = slices.Delete(n.entries, i, i+1)
		n.setGap(i, m)
		n.touch()
		return prev, nil
	}
	c := n.gap(i)
	if c == nil {
		return cid.Undef, nil
	}
	if err := t.load(c); err != nil {
		return cid.Undef, err
	}
	prev, err := t.del(c, key, h)
	if err != nil || !prev.Defined() {
		return prev, err
	}
	if c.empty() {
		n.setGap(i, nil)
	}
	n.touch()
	return prev, nil
}

// merge joins two sibling subtrees at the same layer, all of a's keys being
// below b's: the entries line up, and the subtrees that meet at the seam
// merge one layer down.
func (t *Tree) merge(a, b *node) (*node, error) {
	if a == nil {
		return b, nil
	}
	if b == nil {
		return a, nil
	}
	if err := t.load(a); err != nil {
		return nil, err
	}
	if err := t.load(b); err != nil {
		return nil, err
	}
	na := len(a.entries)
	seam, err := t.merge(a.gap(na), b.left)
	if err != nil {
		return nil, err
	}
	a.entries = append(a.entries, b.entries...)
	a.setGap(na, seam)
	a.touch()
	return a, nil
}
