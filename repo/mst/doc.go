// Package mst implements atproto's Merkle Search Tree: the sorted map from
// record paths to record CIDs whose root CID is a commit's data field.
//
// # Shape
//
// A key's height is the number of leading zero bits of SHA-256(key), halved
// and rounded down (fanout 4). A node at layer L holds, in order, the keys of
// height L within its key range; the keys between two of them, before the
// first or after the last, live in a subtree at layer L-1. Links never skip a
// layer: a subtree that only holds lower keys is an "empty intermediate" node
// with no entries and just a left link. The root sits at the layer of the
// highest key. The only node without entries or links is the root of an empty
// tree, whose CID is EmptyRoot. So the tree, and its root CID, depend only on
// the set of keys and values, never on the order of edits.
//
// # Encoding
//
// A node is the DAG-CBOR map {e: [{k, p, t, v}...], l}. Each entry stores the
// key as p bytes shared with the previous key in the same node plus the
// suffix k; v is the value, t the subtree after the entry and l the subtree
// before the first entry, written as CBOR null when absent. The codec here is
// hand-written: encoding is deterministic, and decoding accepts exactly the
// canonical bytes (so a decoded node re-encodes to the same bytes, and so to
// the same CID), checks prefix compression, key order, key heights and caps,
// and never panics on outside bytes.
//
// # Trees
//
// A Tree is built in memory (New) or read lazily from a BlockGetter (Load):
// nodes are fetched and checked only when an operation needs them, so a
// partial tree (the CAR slice of a #commit) works for everything that stays
// within the blocks present; stepping outside gives an error wrapping
// ErrMissingBlock. A loaded node is checked against its CID, its layer and the
// key range its parent implies, so a tree that loads is a canonical MST.
// Edits mark the path they touch dirty; Root hashes only dirty nodes, and
// WriteBlocks hands out exactly the nodes created since the last call.
//
// # Sync 1.1
//
// Diff compares two trees, skipping subtrees whose CIDs match. Invert undoes
// a commit's changes on the new tree to recompute the previous root, and
// ProofBlocks lists the nodes of the new tree a receiver needs for that. The
// proof definition is the reference implementation's "covering proof": for
// each changed key, the path from the root to where the key is or would be,
// plus, when the key is present, the paths toward it in the subtrees right
// before and after it (the seams a removal merges). Invert demands that whole
// proof before it applies anything, so a producer that leaves out a neighbour
// node is caught even when this particular inversion would not have needed it.
//
// A Tree is not safe for concurrent use: even reads load nodes into it.
package mst
