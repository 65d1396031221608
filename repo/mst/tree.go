package mst

import (
	"fmt"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Tree is a Merkle Search Tree, held in memory and, when loaded, read lazily
// from a BlockGetter. The zero value is not usable; use New or Load.
type Tree struct {
	bg   BlockGetter
	root *node // nil: the empty tree

	// emptySaved records that the empty root block has been handed out (or
	// was loaded), so WriteBlocks does not write it again.
	emptySaved bool

	// err is set when an edit failed after it had changed the tree, which
	// leaves it unusable; every later call returns it.
	err error

	dec NodeData // decode scratch
	enc []byte   // encode scratch
}

// node is one tree node. A stub has only its CID (and the layer and key range
// its parent gives it) until load fills it in.
type node struct {
	entries []entry
	left    *node
	cid     cid.CID // valid unless dirty
	// lo and hi bound a stub's keys (exclusive; "" means open); they come from
	// the parent that linked it, and load checks the node against them.
	lo, hi string
	layer  int // -1 for a root stub, whose layer is only known once loaded
	loaded bool
	dirty  bool // changed since its CID was computed
	// unsaved marks a node created or changed since the last WriteBlocks.
	unsaved bool
}

type entry struct {
	key   string
	val   cid.CID
	right *node // subtree of the keys between this entry and the next
}

// New returns an empty tree that lives in memory.
func New() *Tree { return &Tree{} }

// Load returns the tree with the given root CID, reading nodes from bg only
// when an operation needs them. An undefined root stands for the empty tree.
// Nothing is read here, so errors surface from the first operation.
func Load(bg BlockGetter, root cid.CID) *Tree {
	t := &Tree{bg: bg}
	if root.Defined() {
		t.root = &node{cid: root, layer: -1}
	}
	return t
}

// gap returns the subtree before entry i (i == len(entries): after the last).
func (n *node) gap(i int) *node {
	if i == 0 {
		return n.left
	}
	return n.entries[i-1].right
}

func (n *node) setGap(i int, c *node) {
	if i == 0 {
		n.left = c
	} else {
		n.entries[i-1].right = c
	}
}

// search returns the index of the first entry whose key is >= key, and
// whether it is equal.
func (n *node) search(key string) (int, bool) {
	lo, hi := 0, len(n.entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.entries[m].key < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.entries) && n.entries[lo].key == key
}

func (n *node) empty() bool { return len(n.entries) == 0 && n.left == nil }

// touch marks n changed: its CID is stale and it is a new block.
func (n *node) touch() {
	n.dirty = true
	n.unsaved = true
}

// load reads a stub's block, checks it and fills the node in.
func (t *Tree) load(n *node) error {
	if n.loaded {
		return nil
	}
	if t.bg == nil {
		return fmt.Errorf("%w: node %s (tree has no block source)", ErrMissingBlock, n.cid)
	}
	data, found, err := t.bg.GetBlock(n.cid)
	if err != nil {
		return fmt.Errorf("mst: read node %s: %w", n.cid, err)
	}
	if !found {
		return fmt.Errorf("%w: node %s", ErrMissingBlock, n.cid)
	}
	if n.cid.Codec() != cid.DagCBOR || !n.cid.Matches(data) {
		return fmt.Errorf("%w: block does not match its CID %s", ErrInvalidNode, n.cid)
	}
	if err := t.dec.Decode(data); err != nil {
		return fmt.Errorf("node %s: %w", n.cid, err)
	}
	if err := t.fill(n, &t.dec); err != nil {
		return fmt.Errorf("node %s: %w", n.cid, err)
	}
	return nil
}

// fill checks a decoded node against the place its parent gave it and turns
// it into n's entries, with stubs for its subtrees.
func (t *Tree) fill(n *node, d *NodeData) error {
	layer := d.layer // checked by Decode
	switch {
	case n.layer < 0: // the root
		if layer < 0 && d.Left.Defined() {
			return fmt.Errorf("%w: root has no entries but links down", ErrInvalidNode)
		}
		n.layer = layer
	case layer < 0:
		if !d.Left.Defined() {
			return fmt.Errorf("%w: empty node below the root", ErrInvalidNode)
		}
		if n.layer == 0 {
			return fmt.Errorf("%w: layer-0 node links down", ErrInvalidNode)
		}
	case layer != n.layer:
		return fmt.Errorf("%w: keys of height %d in a node at layer %d", ErrInvalidNode, layer, n.layer)
	}
	if k := len(d.Entries); k > 0 {
		if n.lo != "" && string(d.Entries[0].Key) <= n.lo {
			return fmt.Errorf("%w: key %q not after %q, the key before its subtree", ErrInvalidNode, d.Entries[0].Key, n.lo)
		}
		if n.hi != "" && string(d.Entries[k-1].Key) >= n.hi {
			return fmt.Errorf("%w: key %q not before %q, the key after its subtree", ErrInvalidNode, d.Entries[k-1].Key, n.hi)
		}
	}

	// One string holds all keys (they lie back to back in d.keys), one slice
	// all entries and one all child stubs.
	keys := string(d.keys)
	n.entries = make([]entry, len(d.Entries))
	children := 0
	if d.Left.Defined() {
		children++
	}
	off := 0
	for i := range d.Entries {
		e := &d.Entries[i]
		n.entries[i] = entry{key: keys[off : off+len(e.Key)], val: e.Value}
		off += len(e.Key)
		if e.Right.Defined() {
			children++
		}
	}
	stubs := make([]node, children)
	stub := func(c cid.CID, gap int) *node {
		s := &stubs[0]
		stubs = stubs[1:]
		s.cid, s.layer, s.lo, s.hi = c, n.layer-1, n.lo, n.hi
		if gap > 0 {
			s.lo = n.entries[gap-1].key
		}
		if gap < len(n.entries) {
			s.hi = n.entries[gap].key
		}
		return s
	}
	if d.Left.Defined() {
		n.left = stub(d.Left, 0)
	}
	for i := range d.Entries {
		if c := d.Entries[i].Right; c.Defined() {
			n.entries[i].right = stub(c, i+1)
		}
	}
	n.loaded = true
	return nil
}

// loadRoot makes sure the root is loaded, turning an empty root into nil.
func (t *Tree) loadRoot() error {
	if t.err != nil {
		return t.err
	}
	r := t.root
	if r == nil || r.loaded {
		return nil
	}
	if err := t.load(r); err != nil {
		return err
	}
	if len(r.entries) == 0 {
		t.root = nil
		t.emptySaved = true
	}
	return nil
}

// Get returns the value stored under key.
func (t *Tree) Get(key string) (cid.CID, bool, error) {
	if err := t.loadRoot(); err != nil {
		return cid.Undef, false, err
	}
	// No need to hash the key: an absent key's search ends at a nil subtree,
	// and a loaded tree has every key at its own height.
	for n := t.root; n != nil; {
		if err := t.load(n); err != nil {
			return cid.Undef, false, err
		}
		i, found := n.search(key)
		if found {
			return n.entries[i].val, true, nil
		}
		n = n.gap(i)
	}
	return cid.Undef, false, nil
}

// Root returns the root CID, hashing the nodes changed since the last call.
func (t *Tree) Root() (cid.CID, error) {
	if t.err != nil {
		return cid.Undef, t.err
	}
	if t.root == nil {
		return EmptyRoot, nil
	}
	return t.hash(t.root), nil
}

func (t *Tree) hash(n *node) cid.CID {
	if !n.dirty {
		return n.cid
	}
	if n.left != nil {
		t.hash(n.left)
	}
	for i := range n.entries {
		if r := n.entries[i].right; r != nil {
			t.hash(r)
		}
	}
	t.enc = t.appendNode(t.enc[:0], n)
	n.cid = cid.Sum(cid.DagCBOR, t.enc)
	n.dirty = false
	return n.cid
}

// appendNode encodes n; its children's CIDs must be current.
func (t *Tree) appendNode(dst []byte, n *node) []byte {
	dst = appendNodeHead(dst, len(n.entries))
	prev := ""
	for i := range n.entries {
		e := &n.entries[i]
		var right cid.CID
		if e.right != nil {
			right = e.right.cid
		}
		dst = appendEntry(dst, prev, e.key, e.val, right)
		prev = e.key
	}
	var left cid.CID
	if n.left != nil {
		left = n.left.cid
	}
	return appendNodeTail(dst, left)
}

// WriteBlocks computes the root and passes put every node block created or
// changed since the tree was loaded or last written (for a tree that became
// empty, the empty root node), children before parents. Each data slice is
// the caller's to keep. If put fails, the blocks not yet written are kept for
// the next call.
func (t *Tree) WriteBlocks(put func(c cid.CID, data []byte) error) error {
	if _, err := t.Root(); err != nil {
		return err
	}
	if t.root == nil {
		if t.emptySaved {
			return nil
		}
		if err := put(EmptyRoot, []byte(emptyNode)); err != nil {
			return fmt.Errorf("mst: write node %s: %w", EmptyRoot, err)
		}
		t.emptySaved = true
		return nil
	}
	var a arena
	return t.write(t.root, put, &a)
}

// write writes n's unsaved subtree in post-order, so a saved node never has
// an unsaved child and a failed put can be retried.
func (t *Tree) write(n *node, put func(cid.CID, []byte) error, a *arena) error {
	if !n.unsaved {
		return nil
	}
	if n.left != nil {
		if err := t.write(n.left, put, a); err != nil {
			return err
		}
	}
	for i := range n.entries {
		if r := n.entries[i].right; r != nil {
			if err := t.write(r, put, a); err != nil {
				return err
			}
		}
	}
	t.enc = t.appendNode(t.enc[:0], n)
	if err := put(n.cid, a.copy(t.enc)); err != nil {
		return fmt.Errorf("mst: write node %s: %w", n.cid, err)
	}
	n.unsaved = false
	return nil
}
