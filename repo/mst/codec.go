package mst

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// ErrInvalidNode reports a node block that is not a canonical MST node, or a
// node that does not fit where the tree links to it.
var ErrInvalidNode = errors.New("mst: invalid node")

// NodeData is one node block in decoded form, with keys expanded (prefix
// compression undone). It is the codec's view of a node, independent of any
// tree.
type NodeData struct {
	// Left is the subtree before the first entry; undefined when null.
	Left    cid.CID
	Entries []EntryData

	keys  []byte // backing store of the entries' keys, reused by Decode
	layer int    // as found by the last Decode, so a tree need not rehash
}

// EntryData is one entry of a node.
type EntryData struct {
	Key   []byte  // the full key
	Value cid.CID // the record CID
	Right cid.CID // the subtree after this entry; undefined when null
}

// Layer returns the height of the node's keys, or -1 for a node without
// entries (whose layer only its parent knows).
func (n *NodeData) Layer() int {
	if len(n.Entries) == 0 {
		return -1
	}
	return Height(n.Entries[0].Key)
}

// DecodeNode parses one node block. See (*NodeData).Decode for what it checks.
func DecodeNode(b []byte) (*NodeData, error) {
	n := new(NodeData)
	if err := n.Decode(b); err != nil {
		return nil, err
	}
	return n, nil
}

// Decode parses b into n, reusing n's buffers: with a warm n it does not
// allocate. The keys of n alias a buffer owned by n, so they are valid until
// the next Decode; b itself is not retained.
//
// It accepts exactly the canonical DAG-CBOR encoding: map keys present and in
// order (node e, l; entry k, p, t, v), shortest integer and length forms,
// links as tag 42 over 0x00 + a CIDv1, null for absent subtrees, no trailing
// bytes. It also checks the MST rules a single node can show: p is 0 for the
// first entry and is exactly the prefix shared with the previous key, keys are
// non-empty, at most MaxKeyLen bytes and strictly increasing, all keys have
// the same height (at most MaxLayer), at most MaxEntries entries, subtree
// links are dag-cbor CIDs, and a node at layer 0 links to no subtree. On error
// the content of n is unspecified.
func (n *NodeData) Decode(b []byte) error {
	r := reader{b: b}
	if err := r.literal("\xa2\x61e", "node map header and key e"); err != nil {
		return err
	}
	count, err := r.head(majorArray)
	if err != nil {
		return err
	}
	if count > MaxEntries {
		return r.fail("%d entries, max %d", count, MaxEntries)
	}
	n.Entries = n.Entries[:0]
	// Size for the entries the input can really hold, not for what the
	// header claims.
	if want := min(int(count), (len(b)-r.off)/minEntryLen); cap(n.Entries) < want {
		n.Entries = make([]EntryData, 0, want)
	}
	n.keys = n.keys[:0]
	prevOff, prevLen := 0, 0
	for i := range int(count) {
		e, keyLen, err := n.decodeEntry(&r, i, prevOff, prevLen)
		if err != nil {
			return err
		}
		prevOff, prevLen = len(n.keys)-keyLen, keyLen
		n.Entries = append(n.Entries, e)
	}
	if err := r.literal("\x61l", "key l"); err != nil {
		return err
	}
	if n.Left, err = r.link(true, true); err != nil {
		return err
	}
	if r.off != len(b) {
		return r.fail("%d trailing bytes", len(b)-r.off)
	}
	// The key slices were cut while n.keys was still growing; re-cut them from
	// the final buffer, where they lie back to back.
	off := 0
	for i := range n.Entries {
		l := len(n.Entries[i].Key)
		n.Entries[i].Key = n.keys[off : off+l : off+l]
		off += l
	}
	n.layer, err = n.checkLayer()
	return err
}

// minEntryLen is the size of the smallest encoded entry: a one-byte key,
// p 0, t null and a 41-byte link.
const minEntryLen = 12 + 1 + 41

// decodeEntry reads entry i; the previous key is n.keys[prevOff:prevOff+prevLen].
// It appends the full key to n.keys and returns the entry and the key length.
func (n *NodeData) decodeEntry(r *reader, i, prevOff, prevLen int) (EntryData, int, error) {
	var e EntryData
	if err := r.literal("\xa4\x61k", "entry map header and key k"); err != nil {
		return e, 0, err
	}
	suffixLen, err := r.head(majorBytes)
	if err != nil {
		return e, 0, err
	}
	if suffixLen > MaxKeyLen {
		return e, 0, r.fail("entry %d: key suffix of %d bytes, max %d", i, suffixLen, MaxKeyLen)
	}
	suffix, err := r.take(int(suffixLen))
	if err != nil {
		return e, 0, err
	}
	if err := r.literal("\x61p", "key p"); err != nil {
		return e, 0, err
	}
	p64, err := r.head(majorUint)
	if err != nil {
		return e, 0, err
	}
	if p64 > uint64(prevLen) {
		return e, 0, r.fail("entry %d: prefix length %d beyond the previous key's %d bytes", i, p64, prevLen)
	}
	p := int(p64)
	prev := n.keys[prevOff : prevOff+prevLen]
	keyLen := p + len(suffix)
	switch {
	case keyLen == 0:
		return e, 0, r.fail("entry %d: empty key", i)
	case keyLen > MaxKeyLen:
		return e, 0, r.fail("entry %d: key of %d bytes, max %d", i, keyLen, MaxKeyLen)
	case i > 0 && len(suffix) == 0:
		// The key is prev[:p], a prefix of (or equal to) the previous key.
		return e, 0, r.fail("entry %d: key not after the previous key", i)
	case p < prevLen && suffix[0] == prev[p]:
		return e, 0, r.fail("entry %d: prefix length %d is not the shared prefix", i, p)
	case i > 0 && p < prevLen && suffix[0] < prev[p]:
		return e, 0, r.fail("entry %d: key not after the previous key", i)
	}
	off := len(n.keys)
	n.keys = append(n.keys, prev[:p]...)
	n.keys = append(n.keys, suffix...)
	e.Key = n.keys[off : off+keyLen]
	if err := r.literal("\x61t", "key t"); err != nil {
		return e, 0, err
	}
	if e.Right, err = r.link(true, true); err != nil {
		return e, 0, err
	}
	if err := r.literal("\x61v", "key v"); err != nil {
		return e, 0, err
	}
	if e.Value, err = r.link(false, false); err != nil {
		return e, 0, err
	}
	return e, keyLen, nil
}

// checkLayer checks that all keys share one height and that a layer-0 node
// links nowhere, and returns the layer (-1 without entries).
func (n *NodeData) checkLayer() (int, error) {
	if len(n.Entries) == 0 {
		return -1, nil
	}
	layer := Height(n.Entries[0].Key)
	if layer > MaxLayer {
		return 0, fmt.Errorf("%w: key height %d, max %d", ErrInvalidNode, layer, MaxLayer)
	}
	for i := 1; i < len(n.Entries); i++ {
		if h := Height(n.Entries[i].Key); h != layer {
			return 0, fmt.Errorf("%w: entry %d has height %d in a layer-%d node", ErrInvalidNode, i, h, layer)
		}
	}
	if layer == 0 {
		if n.Left.Defined() {
			return 0, fmt.Errorf("%w: layer-0 node has a left subtree", ErrInvalidNode)
		}
		for i := range n.Entries {
			if n.Entries[i].Right.Defined() {
				return 0, fmt.Errorf("%w: layer-0 node entry %d has a subtree", ErrInvalidNode, i)
			}
		}
	}
	return layer, nil
}

// Encode returns the canonical encoding of n. Entries are written in the
// order given; a valid node has them sorted by key.
func (n *NodeData) Encode() []byte { return n.AppendEncode(nil) }

// AppendEncode appends the canonical encoding of n to dst.
func (n *NodeData) AppendEncode(dst []byte) []byte {
	dst = appendNodeHead(dst, len(n.Entries))
	var prev []byte
	for _, e := range n.Entries {
		dst = appendEntry(dst, prev, e.Key, e.Value, e.Right)
		prev = e.Key
	}
	return appendNodeTail(dst, n.Left)
}

// The encoding helpers below are shared by NodeData and the tree's own nodes.

func appendNodeHead(dst []byte, entries int) []byte {
	dst = append(dst, 0xa2, 0x61, 'e')
	return appendHead(dst, majorArray, uint64(entries))
}

func appendEntry[K ~string | ~[]byte](dst []byte, prev, key K, val, right cid.CID) []byte {
	p := commonPrefix(prev, key)
	dst = append(dst, 0xa4, 0x61, 'k')
	dst = appendHead(dst, majorBytes, uint64(len(key)-p))
	dst = append(dst, key[p:]...)
	dst = append(dst, 0x61, 'p')
	dst = appendHead(dst, majorUint, uint64(p))
	dst = append(dst, 0x61, 't')
	dst = appendLink(dst, right)
	dst = append(dst, 0x61, 'v')
	return appendLink(dst, val)
}

func appendNodeTail(dst []byte, left cid.CID) []byte {
	dst = append(dst, 0x61, 'l')
	return appendLink(dst, left)
}

// emptyNode is the encoding of the node with no entries and no subtree.
const emptyNode = "\xa2\x61e\x80\x61l\xf6"

// EmptyRoot is the root CID of a tree with no keys (the data CID of an empty
// repository).
var EmptyRoot = cid.Sum(cid.DagCBOR, []byte(emptyNode))

// CBOR major types used by nodes.
const (
	majorUint  = 0
	majorBytes = 2
	majorArray = 4
)

// linkPrefix is tag 42 and the head of a 37-byte byte string whose first byte
// is the identity multibase prefix 0x00.
const linkPrefix = "\xd8\x2a\x58\x25\x00"

func appendLink(dst []byte, c cid.CID) []byte {
	if !c.Defined() {
		return append(dst, 0xf6)
	}
	dst = append(dst, linkPrefix...)
	return c.AppendBytes(dst)
}

// appendHead writes a CBOR head in its shortest form.
func appendHead(dst []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(dst, m|byte(v))
	case v <= 0xff:
		return append(dst, m|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), v)
}

// reader walks a node block; every method fails cleanly at the end of input.
type reader struct {
	b   []byte
	off int
}

func (r *reader) fail(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrInvalidNode, r.off, fmt.Sprintf(format, args...))
}

// literal consumes the exact bytes lit.
func (r *reader) literal(lit, what string) error {
	if len(r.b)-r.off < len(lit) || string(r.b[r.off:r.off+len(lit)]) != lit {
		return r.fail("want %s", what)
	}
	r.off += len(lit)
	return nil
}

func (r *reader) take(n int) ([]byte, error) {
	if n > len(r.b)-r.off {
		return nil, r.fail("want %d bytes, have %d", n, len(r.b)-r.off)
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b, nil
}

// head reads a CBOR head of the given major type and returns its argument,
// rejecting indefinite lengths and arguments not in their shortest form.
func (r *reader) head(major byte) (uint64, error) {
	if r.off >= len(r.b) {
		return 0, r.fail("unexpected end of input")
	}
	ib := r.b[r.off]
	if ib>>5 != major {
		return 0, r.fail("major type %d, want %d", ib>>5, major)
	}
	info := ib & 0x1f
	var size int
	var least uint64
	switch {
	case info < 24:
		r.off++
		return uint64(info), nil
	case info == 24:
		size, least = 1, 24
	case info == 25:
		size, least = 2, 1<<8
	case info == 26:
		size, least = 4, 1<<16
	case info == 27:
		size, least = 8, 1<<32
	default:
		return 0, r.fail("indefinite or reserved length 0x%02x", ib)
	}
	if len(r.b)-r.off-1 < size {
		return 0, r.fail("truncated integer")
	}
	var v uint64
	for _, c := range r.b[r.off+1 : r.off+1+size] {
		v = v<<8 | uint64(c)
	}
	if v < least {
		return 0, r.fail("integer %d not in shortest form", v)
	}
	r.off += 1 + size
	return v, nil
}

// link reads a CID link, or null when nullable. A subtree link must be a
// dag-cbor CID.
func (r *reader) link(nullable, subtree bool) (cid.CID, error) {
	if nullable && r.off < len(r.b) && r.b[r.off] == 0xf6 {
		r.off++
		return cid.Undef, nil
	}
	if err := r.literal(linkPrefix, "CID link"); err != nil {
		return cid.Undef, err
	}
	b, err := r.take(cid.Len)
	if err != nil {
		return cid.Undef, err
	}
	c, err := cid.Parse(b)
	if err != nil {
		return cid.Undef, r.fail("link: %v", err)
	}
	if subtree && c.Codec() != cid.DagCBOR {
		return cid.Undef, r.fail("subtree link %s is not dag-cbor", c)
	}
	return c, nil
}
