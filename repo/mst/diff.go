package mst

import (
	"fmt"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Change is one key's difference between two trees. Old is undefined for a
// key that was created, New for one that was deleted.
type Change struct {
	Key      string
	Old, New cid.CID
}

// Diff returns the changes that turn the tree at oldRoot into the tree at
// newRoot, in key order, reading both trees from bg. An undefined root is the
// empty tree. Subtrees with the same CID on both sides are skipped unread, so
// the cost follows the size of the difference, not of the trees.
func Diff(bg BlockGetter, oldRoot, newRoot cid.CID) ([]Change, error) {
	if oldRoot == newRoot {
		return nil, nil
	}
	a, err := newCursor(Load(bg, oldRoot))
	if err != nil {
		return nil, fmt.Errorf("mst: diff: old tree: %w", err)
	}
	b, err := newCursor(Load(bg, newRoot))
	if err != nil {
		return nil, fmt.Errorf("mst: diff: new tree: %w", err)
	}
	var out []Change
	for !a.done() || !b.done() {
		var err error
		switch {
		case a.done():
			out, err = b.drain(out, false)
		case b.done():
			out, err = a.drain(out, true)
		case a.atLeaf() && b.atLeaf():
			ea, eb := a.entry(), b.entry()
			switch {
			case ea.key < eb.key:
				out = append(out, Change{Key: ea.key, Old: ea.val})
				a.next()
			case ea.key > eb.key:
				out = append(out, Change{Key: eb.key, New: eb.val})
				b.next()
			default:
				if ea.val != eb.val {
					out = append(out, Change{Key: ea.key, Old: ea.val, New: eb.val})
				}
				a.next()
				b.next()
			}
		case !a.atLeaf() && !b.atLeaf() && a.sub().cid == b.sub().cid:
			// Everything before both is settled, so equal subtrees hold the
			// same keys at the same place.
			a.next()
			b.next()
		case a.atLeaf():
			err = b.descend()
		case b.atLeaf():
			err = a.descend()
		default:
			// Two different subtrees: open the higher one, or both when level,
			// so the walks meet again at matching subtrees.
			la, lb := a.top().n.layer, b.top().n.layer
			if la >= lb {
				err = a.descend()
			}
			if err == nil && lb >= la {
				err = b.descend()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("mst: diff: %w", err)
		}
	}
	return out, nil
}

// cursor walks a tree in key order, one entry or unopened subtree at a time.
type cursor struct {
	t     *Tree
	stack []frame
}

// frame is a node being walked; pos 2i is the subtree before entry i and
// pos 2i+1 is entry i.
type frame struct {
	n   *node
	pos int
}

func newCursor(t *Tree) (*cursor, error) {
	if err := t.loadRoot(); err != nil {
		return nil, err
	}
	c := &cursor{t: t}
	if t.root != nil {
		c.stack = append(c.stack, frame{n: t.root})
		c.settle()
	}
	return c, nil
}

// settle moves past absent subtrees and finished nodes.
func (c *cursor) settle() {
	for len(c.stack) > 0 {
		f := &c.stack[len(c.stack)-1]
		switch {
		case f.pos > 2*len(f.n.entries):
			c.stack = c.stack[:len(c.stack)-1]
		case f.pos%2 == 0 && f.n.gap(f.pos/2) == nil:
			f.pos++
		default:
			return
		}
	}
}

func (c *cursor) done() bool    { return len(c.stack) == 0 }
func (c *cursor) top() *frame   { return &c.stack[len(c.stack)-1] }
func (c *cursor) atLeaf() bool  { return c.top().pos%2 == 1 }
func (c *cursor) entry() *entry { f := c.top(); return &f.n.entries[f.pos/2] }
func (c *cursor) sub() *node    { f := c.top(); return f.n.gap(f.pos / 2) }

func (c *cursor) next() {
	c.top().pos++
	c.settle()
}

// descend opens the current subtree: its items take its place.
func (c *cursor) descend() error {
	s := c.sub()
	if err := c.t.load(s); err != nil {
		return err
	}
	c.top().pos++
	c.stack = append(c.stack, frame{n: s})
	c.settle()
	return nil
}

// drain emits the rest of the walk as deletions (old side) or creations.
func (c *cursor) drain(out []Change, old bool) ([]Change, error) {
	for !c.done() {
		if !c.atLeaf() {
			if err := c.descend(); err != nil {
				return out, err
			}
			continue
		}
		e := c.entry()
		if old {
			out = append(out, Change{Key: e.key, Old: e.val})
		} else {
			out = append(out, Change{Key: e.key, New: e.val})
		}
		c.next()
	}
	return out, nil
}
