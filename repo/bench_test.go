package repo

import (
	"testing"

	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// oneOpCommit builds a repository of n records and returns the #commit
// evidence for creating one more record in it.
func oneOpCommit(b *testing.B, n int) (*CommitEvidence, crypto.PublicKey) {
	b.Helper()
	key, err := crypto.GenerateK256()
	if err != nil {
		b.Fatal(err)
	}
	r := newMemRepo()
	leaf, leafBytes := recordBlock(b, "existing")
	r.blocks[leaf] = leafBytes
	base := int64(1725911162329308)
	for i := range n {
		path := "app.bsky.feed.post/" + string(syntax.NewTID(base+int64(i)*1000, 0))
		if _, err := r.tree.Put(path, leaf); err != nil {
			b.Fatal(err)
		}
	}
	prev := r.root(b)
	c, rec := recordBlock(b, "the new post")
	r.blocks[c] = rec
	if _, err := r.tree.Put("app.bsky.feed.post/"+string(syntax.NewTID(base+int64(n)*1000, 0)), c); err != nil {
		b.Fatal(err)
	}
	return r.commitTo(b, key, string(syntax.NewTID(base+int64(n)*1000, 1)), prev), key.Public()
}

// BenchmarkCheckCommitProof100k is the sync 1.1 check of a one-op commit
// against a 100k-record repository, excluding the signature: parse and
// hash-check the CAR slice, decode the commit, check the ops, invert.
func BenchmarkCheckCommitProof100k(b *testing.B) {
	ev, _ := oneOpCommit(b, 100_000)
	b.SetBytes(int64(len(ev.Blocks)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CheckCommitProof(ev, car.CommitLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCommit is the whole per-commit check a relay runs: the proof
// check plus the signature (secp256k1).
func BenchmarkVerifyCommit(b *testing.B) {
	ev, pub := oneOpCommit(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		checked, err := CheckCommitProof(ev, car.CommitLimits())
		if err != nil {
			b.Fatal(err)
		}
		if err := checked.Commit.VerifySignature(pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommitSign(b *testing.B) {
	for _, gen := range []func() (crypto.PrivateKey, error){crypto.GenerateP256, crypto.GenerateK256} {
		key, err := gen()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(key.Alg(), func(b *testing.B) {
			c := &Commit{DID: "did:plc:vixizgjuwef5ovmixqxalfup", Version: Version, Data: cid.Sum(cid.DagCBOR, nil), Rev: "3l3qo2vxaaw22"}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Sign(key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseCommit(b *testing.B) {
	key, _ := crypto.GenerateK256()
	c := &Commit{DID: "did:plc:vixizgjuwef5ovmixqxalfup", Version: Version, Data: cid.Sum(cid.DagCBOR, nil), Rev: "3l3qo2vxaaw22"}
	if err := c.Sign(key); err != nil {
		b.Fatal(err)
	}
	raw, _ := c.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCommit(raw); err != nil {
			b.Fatal(err)
		}
	}
}
