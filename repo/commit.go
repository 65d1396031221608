package repo

import (
	"errors"
	"fmt"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// Version is the repository format version every commit carries.
const Version = 3

// Errors about commit objects.
var (
	ErrCommitStructure = errors.New("repo: invalid commit")
	ErrBadSignature    = errors.New("repo: commit signature does not verify")
)

// Commit is the signed root of a repository at one revision (format v3).
type Commit struct {
	DID     string  // account DID
	Version int64   // always 3
	Data    cid.CID // MST root
	Rev     string  // TID, increases with every commit
	Prev    cid.CID // a link to the previous commit; undefined (null) in practice in v3
	Sig     []byte  // 64-byte compact ECDSA signature over the unsigned encoding
}

// commitWire is the DAG-CBOR shape. prev is always present (null when
// absent), and sig is left out of the unsigned form that gets signed.
type commitWire struct {
	DID     string   `cbor:"did"`
	Rev     string   `cbor:"rev"`
	Sig     []byte   `cbor:"sig,omitempty"`
	Data    cid.CID  `cbor:"data"`
	Prev    *cid.CID `cbor:"prev"`
	Version int64    `cbor:"version"`
}

func (c *Commit) wire(withSig bool) commitWire {
	w := commitWire{DID: c.DID, Rev: c.Rev, Data: c.Data, Version: c.Version}
	if withSig {
		w.Sig = c.Sig
	}
	if c.Prev.Defined() {
		prev := c.Prev
		w.Prev = &prev
	}
	return w
}

// UnsignedBytes returns the DAG-CBOR encoding of the commit without its
// signature: the bytes that get signed.
func (c *Commit) UnsignedBytes() ([]byte, error) {
	b, err := dagcbor.Marshal(c.wire(false))
	if err != nil {
		return nil, fmt.Errorf("encode unsigned commit: %w", err)
	}
	return b, nil
}

// Bytes returns the DAG-CBOR encoding of the signed commit, the block whose CID
// is the commit CID.
func (c *Commit) Bytes() ([]byte, error) {
	if len(c.Sig) == 0 {
		return nil, fmt.Errorf("%w: not signed", ErrCommitStructure)
	}
	b, err := dagcbor.Marshal(c.wire(true))
	if err != nil {
		return nil, fmt.Errorf("encode commit: %w", err)
	}
	return b, nil
}

// Block returns the signed commit's CID and encoding.
func (c *Commit) Block() (cid.CID, []byte, error) {
	b, err := c.Bytes()
	if err != nil {
		return cid.Undef, nil, err
	}
	return cid.Sum(cid.DagCBOR, b), b, nil
}

// Sign sets Sig to the key's signature over the unsigned encoding.
func (c *Commit) Sign(key crypto.PrivateKey) error {
	b, err := c.UnsignedBytes()
	if err != nil {
		return err
	}
	sig, err := key.Sign(b)
	if err != nil {
		return fmt.Errorf("sign commit: %w", err)
	}
	c.Sig = sig
	return nil
}

// VerifySignature checks Sig against pub over the unsigned encoding.
func (c *Commit) VerifySignature(pub crypto.PublicKey) error {
	b, err := c.UnsignedBytes()
	if err != nil {
		return err
	}
	if err := pub.Verify(b, c.Sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// VerifyStructure checks the fields a valid commit must have: version 3, a
// DID, a TID rev, a data link and a non-empty signature.
func (c *Commit) VerifyStructure() error {
	if c.Version != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrCommitStructure, c.Version, Version)
	}
	if _, err := syntax.ParseDID(c.DID); err != nil {
		return fmt.Errorf("%w: did: %w", ErrCommitStructure, err)
	}
	if _, err := syntax.ParseTID(c.Rev); err != nil {
		return fmt.Errorf("%w: rev: %w", ErrCommitStructure, err)
	}
	if !c.Data.Defined() {
		return fmt.Errorf("%w: no data link", ErrCommitStructure)
	}
	if c.Data.Codec() != cid.DagCBOR {
		return fmt.Errorf("%w: data link is not dag-cbor", ErrCommitStructure)
	}
	if len(c.Sig) == 0 {
		return fmt.Errorf("%w: empty signature", ErrCommitStructure)
	}
	return nil
}

// ParseCommit decodes a signed commit block. It checks the encoding, not the
// signature or the field values (see VerifyStructure).
func ParseCommit(b []byte) (*Commit, error) {
	var w commitWire
	if err := dagcbor.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCommitStructure, err)
	}
	c := &Commit{DID: w.DID, Version: w.Version, Data: w.Data, Rev: w.Rev, Sig: w.Sig}
	if w.Prev != nil {
		c.Prev = *w.Prev
	}
	// The decoder accepts a struct's keys in any subset; require the shape
	// exactly by re-encoding: a commit with a missing or extra key, or one that
	// is not canonical, has a different encoding.
	again, err := c.Bytes()
	if err != nil {
		return nil, err
	}
	if string(again) != string(b) {
		return nil, fmt.Errorf("%w: not a canonical v3 commit encoding", ErrCommitStructure)
	}
	return c, nil
}
