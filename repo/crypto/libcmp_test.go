package crypto

import (
	"crypto/sha256"
	"testing"

	dsecp "github.com/decred/dcrd/dcrec/secp256k1/v4"
	decdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	voi "gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec"
)

// BenchmarkK256LibVerify compares the two secp256k1 libraries on the work
// one Verify does (parse r and s, hash, verify) against a pre-parsed key. It
// chose the production library (see doc.go); re-run it when bumping either:
//
//	go test -run '^$' -bench K256LibVerify -benchmem ./repo/crypto
func BenchmarkK256LibVerify(b *testing.B) {
	msg := make([]byte, 200)
	digest := sha256.Sum256(msg)
	dpriv, err := dsecp.GeneratePrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	dsig := decdsa.Sign(dpriv, digest[:])
	r, s := dsig.R(), dsig.S()
	var compact [64]byte
	r.PutBytesUnchecked(compact[:32])
	s.PutBytesUnchecked(compact[32:])
	compressed := dpriv.PubKey().SerializeCompressed()

	b.Run("decred", func(b *testing.B) {
		pub, err := dsecp.ParsePubKey(compressed)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			var r, s dsecp.ModNScalar
			if r.SetByteSlice(compact[:32]) || s.SetByteSlice(compact[32:]) || s.IsOverHalfOrder() {
				b.Fatal("bad scalars")
			}
			d := sha256.Sum256(msg)
			if !decdsa.NewSignature(&r, &s).Verify(d[:], pub) {
				b.Fatal("verify failed")
			}
		}
	})
	b.Run("voi", func(b *testing.B) {
		pt, err := voi.NewIdentityPoint().SetCompressedBytes(compressed)
		if err != nil {
			b.Fatal(err)
		}
		pub, err := secec.NewPublicKeyFromPoint(pt)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			var r, s voi.Scalar
			if _, err := r.SetCanonicalBytes((*[32]byte)(compact[:32])); err != nil {
				b.Fatal(err)
			}
			if _, err := s.SetCanonicalBytes((*[32]byte)(compact[32:])); err != nil || s.IsGreaterThanHalfN() != 0 {
				b.Fatal("bad s")
			}
			d := sha256.Sum256(msg)
			if !pub.VerifyRaw(d[:], &r, &s) {
				b.Fatal("verify failed")
			}
		}
	})
}
