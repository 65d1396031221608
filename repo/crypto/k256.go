package crypto

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	secp256k1 "gitlab.com/yawning/secp256k1-voi"
	"gitlab.com/yawning/secp256k1-voi/secec"
)

type k256PublicKey struct {
	key        *secec.PublicKey
	compressed [compressedLen]byte
}

type k256PrivateKey struct {
	key *secec.PrivateKey
	pub *k256PublicKey
}

// GenerateK256 creates a new random secp256k1 key.
func GenerateK256() (PrivateKey, error) {
	k, err := secec.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate K-256 key: %w", err)
	}
	return asPrivate(newK256Private(k))
}

func parseK256Private(b []byte) (PrivateKey, error) {
	if len(b) != scalarLen {
		return nil, fmt.Errorf("%w: K-256 private key is %d bytes, want %d", ErrInvalidKey, len(b), scalarLen)
	}
	// NewPrivateKey rejects 0 and values >= n rather than reducing them.
	k, err := secec.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: K-256 private key: %v", ErrInvalidKey, err)
	}
	return asPrivate(newK256Private(k))
}

func newK256Private(k *secec.PrivateKey) (*k256PrivateKey, error) {
	pub, err := newK256Public(k.PublicKey())
	if err != nil {
		return nil, err
	}
	return &k256PrivateKey{key: k, pub: pub}, nil
}

// parseK256Compressed parses a 33-byte compressed SEC1 point. The point
// decoder is called directly because secec.NewPublicKey would also take the
// uncompressed form, which the Multikey encoding does not allow.
func parseK256Compressed(b []byte) (PublicKey, error) {
	if len(b) != compressedLen {
		return nil, fmt.Errorf("%w: K-256 public key is not a compressed point", ErrInvalidKey)
	}
	p, err := secp256k1.NewIdentityPoint().SetCompressedBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: K-256 public key: %v", ErrInvalidKey, err)
	}
	return newK256PublicFromPoint(p)
}

func parseK256Uncompressed(b []byte) (PublicKey, error) {
	p, err := secp256k1.NewIdentityPoint().SetUncompressedBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: K-256 public key: %v", ErrInvalidKey, err)
	}
	return newK256PublicFromPoint(p)
}

// parseK256Point accepts either SEC1 point form (legacy DID documents).
func parseK256Point(b []byte) (PublicKey, error) {
	if len(b) == uncompressedLen {
		return parseK256Uncompressed(b)
	}
	return parseK256Compressed(b)
}

func newK256PublicFromPoint(p *secp256k1.Point) (PublicKey, error) {
	k, err := secec.NewPublicKeyFromPoint(p)
	if err != nil {
		return nil, fmt.Errorf("%w: K-256 public key: %v", ErrInvalidKey, err)
	}
	return asPublic(newK256Public(k))
}

func newK256Public(k *secec.PublicKey) (*k256PublicKey, error) {
	c := k.CompressedBytes()
	if len(c) != compressedLen {
		return nil, fmt.Errorf("%w: K-256 public key cannot be encoded", ErrInvalidKey)
	}
	pk := &k256PublicKey{key: k}
	copy(pk.compressed[:], c)
	return pk, nil
}

func (k *k256PublicKey) Verify(data, sig []byte) error {
	if err := checkSigLen(sig); err != nil {
		return err
	}
	// Scalars live on the stack; SetCanonicalBytes rejects r, s >= n.
	var r, s secp256k1.Scalar
	if _, err := r.SetCanonicalBytes((*[scalarLen]byte)(sig[:32])); err != nil {
		return fmt.Errorf("%w: r out of range", ErrInvalidSignature)
	}
	if _, err := s.SetCanonicalBytes((*[scalarLen]byte)(sig[32:])); err != nil {
		return ErrHighS // s >= n is above n/2 as well
	}
	if s.IsGreaterThanHalfN() != 0 {
		return ErrHighS
	}
	digest := sha256.Sum256(data)
	// VerifyRaw rejects r or s of zero itself.
	if !k.key.VerifyRaw(digest[:], &r, &s) {
		return ErrInvalidSignature
	}
	return nil
}

func (k *k256PublicKey) Multibase() string { return encodeMultibase(prefixK256Pub, k.compressed[:]) }
func (k *k256PublicKey) DIDKey() string    { return DIDKeyPrefix + k.Multibase() }
func (k *k256PublicKey) Bytes() []byte     { return bytes.Clone(k.compressed[:]) }
func (k *k256PublicKey) Alg() string       { return AlgK256 }

func (k *k256PublicKey) Equal(other PublicKey) bool {
	o, ok := other.(*k256PublicKey)
	return ok && o != nil && k.compressed == o.compressed
}

func (k *k256PrivateKey) Sign(data []byte) ([]byte, error) {
	digest := sha256.Sum256(data)
	// SignRaw already negates s into the low half; the check below guards
	// that promise, since a high-S signature here would be rejected by
	// every atproto verifier.
	r, s, _, err := k.key.SignRaw(rand.Reader, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign with K-256 key: %w", err)
	}
	if s.IsGreaterThanHalfN() != 0 {
		s.Negate(s)
	}
	sig := make([]byte, 0, sigLen)
	sig = append(sig, r.Bytes()...)
	return append(sig, s.Bytes()...), nil
}

func (k *k256PrivateKey) Public() PublicKey { return k.pub }
func (k *k256PrivateKey) Alg() string       { return AlgK256 }
func (k *k256PrivateKey) Bytes() []byte     { return k.key.Bytes() }

func (k *k256PrivateKey) Multibase() string {
	return encodeMultibase(prefixK256Priv, k.key.Bytes())
}
