package mst

import "github.com/conflux-atproto/conflux/repo/cid"

// Walk calls fn for every key in ascending order. An error from fn stops the
// walk and is returned as is.
func (t *Tree) Walk(fn func(key string, val cid.CID) error) error {
	return t.WalkFrom("", fn)
}

// WalkFrom is Walk starting at the first key >= start; it reads only the
// nodes on the way to start and those after it.
func (t *Tree) WalkFrom(start string, fn func(key string, val cid.CID) error) error {
	if err := t.loadRoot(); err != nil {
		return err
	}
	if t.root == nil {
		return nil
	}
	return t.walk(t.root, start, fn)
}

func (t *Tree) walk(n *node, start string, fn func(string, cid.CID) error) error {
	if err := t.load(n); err != nil {
		return err
	}
	i := 0
	if start != "" {
		i, _ = n.search(start)
	}
	// The gap before entry i holds keys below it that may still be >= start.
	if c := n.gap(i); c != nil {
		if err := t.walk(c, start, fn); err != nil {
			return err
		}
	}
	for ; i < len(n.entries); i++ {
		e := &n.entries[i]
		if err := fn(e.key, e.val); err != nil {
			return err
		}
		if e.right != nil {
			if err := t.walk(e.right, "", fn); err != nil {
				return err
			}
		}
	}
	return nil
}
