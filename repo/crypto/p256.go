package crypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// p256HalfOrder is floor(n/2) for P-256, big-endian. A signature's s must
// not exceed it.
var p256HalfOrder = [32]byte{
	0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
}

type p256PublicKey struct {
	key        *ecdsa.PublicKey
	compressed [compressedLen]byte
}

type p256PrivateKey struct {
	key    *ecdsa.PrivateKey
	pub    *p256PublicKey
	scalar [scalarLen]byte
}

// GenerateP256 creates a new random P-256 key.
func GenerateP256() (PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate P-256 key: %w", err)
	}
	return asPrivate(newP256Private(k))
}

func parseP256Private(b []byte) (PrivateKey, error) {
	if len(b) != scalarLen {
		return nil, fmt.Errorf("%w: P-256 private key is %d bytes, want %d", ErrInvalidKey, len(b), scalarLen)
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
	if err != nil {
		return nil, fmt.Errorf("%w: P-256 private key: %v", ErrInvalidKey, err)
	}
	return asPrivate(newP256Private(k))
}

func newP256Private(k *ecdsa.PrivateKey) (*p256PrivateKey, error) {
	d, err := k.Bytes()
	if err != nil || len(d) != scalarLen {
		return nil, fmt.Errorf("%w: P-256 private key cannot be encoded", ErrInvalidKey)
	}
	pub, err := newP256Public(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	sk := &p256PrivateKey{key: k, pub: pub}
	copy(sk.scalar[:], d)
	return sk, nil
}

// parseP256Compressed parses a 33-byte compressed SEC1 point.
func parseP256Compressed(b []byte) (PublicKey, error) {
	if len(b) != compressedLen || (b[0] != 0x02 && b[0] != 0x03) {
		return nil, fmt.Errorf("%w: P-256 public key is not a compressed point", ErrInvalidKey)
	}
	// UnmarshalCompressed rejects x >= p and x with no square root.
	x, y := elliptic.UnmarshalCompressed(elliptic.P256(), b)
	if x == nil {
		return nil, fmt.Errorf("%w: P-256 point not on curve", ErrInvalidKey)
	}
	var u [uncompressedLen]byte
	u[0] = 0x04
	x.FillBytes(u[1:33])
	y.FillBytes(u[33:])
	return parseP256Uncompressed(u[:])
}

func parseP256Uncompressed(b []byte) (PublicKey, error) {
	if len(b) != uncompressedLen || b[0] != 0x04 {
		return nil, fmt.Errorf("%w: P-256 public key is not an uncompressed point", ErrInvalidKey)
	}
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b)
	if err != nil {
		return nil, fmt.Errorf("%w: P-256 public key: %v", ErrInvalidKey, err)
	}
	return asPublic(newP256Public(k))
}

// parseP256Point accepts either SEC1 point form (legacy DID documents).
func parseP256Point(b []byte) (PublicKey, error) {
	if len(b) == uncompressedLen {
		return parseP256Uncompressed(b)
	}
	return parseP256Compressed(b)
}

func newP256Public(k *ecdsa.PublicKey) (*p256PublicKey, error) {
	u, err := k.Bytes()
	if err != nil || len(u) != uncompressedLen {
		return nil, fmt.Errorf("%w: P-256 public key cannot be encoded", ErrInvalidKey)
	}
	pk := &p256PublicKey{key: k}
	pk.compressed[0] = 0x02 | u[uncompressedLen-1]&1
	copy(pk.compressed[1:], u[1:33])
	return pk, nil
}

func (k *p256PublicKey) Verify(data, sig []byte) error {
	if err := checkSigLen(sig); err != nil {
		return err
	}
	if bytes.Compare(sig[32:], p256HalfOrder[:]) > 0 {
		return ErrHighS
	}
	digest := sha256.Sum256(data)
	// The standard library takes r and s as ASN.1 DER (or as big.Ints, which
	// it re-encodes to DER anyway), so build the DER form on the stack.
	var der [72]byte
	if !ecdsa.VerifyASN1(k.key, digest[:], appendDERSignature(der[:0], sig[:32], sig[32:])) {
		return ErrInvalidSignature
	}
	return nil
}

// appendDERSignature appends SEQUENCE { INTEGER r, INTEGER s } for two
// 32-byte big-endian values; at most 72 bytes, so lengths fit in one byte.
func appendDERSignature(dst, r, s []byte) []byte {
	r, s = trimLeadingZeros(r), trimLeadingZeros(s)
	n := derIntLen(r) + derIntLen(s)
	dst = append(dst, 0x30, byte(n))
	dst = appendDERInt(dst, r)
	return appendDERInt(dst, s)
}

func trimLeadingZeros(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// derIntLen is the encoded size of a non-negative INTEGER whose minimal
// magnitude bytes are v: tag, length, an 0x00 pad if the top bit is set.
func derIntLen(v []byte) int {
	if v[0]&0x80 != 0 {
		return 3 + len(v)
	}
	return 2 + len(v)
}

func appendDERInt(dst, v []byte) []byte {
	if v[0]&0x80 != 0 {
		dst = append(dst, 0x02, byte(len(v)+1), 0x00)
	} else {
		dst = append(dst, 0x02, byte(len(v)))
	}
	return append(dst, v...)
}

func (k *p256PublicKey) Multibase() string { return encodeMultibase(prefixP256Pub, k.compressed[:]) }
func (k *p256PublicKey) DIDKey() string    { return DIDKeyPrefix + k.Multibase() }
func (k *p256PublicKey) Bytes() []byte     { return bytes.Clone(k.compressed[:]) }
func (k *p256PublicKey) Alg() string       { return AlgP256 }

func (k *p256PublicKey) Equal(other PublicKey) bool {
	o, ok := other.(*p256PublicKey)
	return ok && o != nil && k.compressed == o.compressed
}

func (k *p256PrivateKey) Sign(data []byte) ([]byte, error) {
	digest := sha256.Sum256(data)
	r, s, err := ecdsa.Sign(rand.Reader, k.key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign with P-256 key: %w", err)
	}
	sig := make([]byte, sigLen)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	if bytes.Compare(sig[32:], p256HalfOrder[:]) > 0 {
		// (r, n-s) is the other valid signature; atproto wants the low one.
		s.Sub(elliptic.P256().Params().N, s)
		s.FillBytes(sig[32:])
	}
	return sig, nil
}

func (k *p256PrivateKey) Public() PublicKey { return k.pub }
func (k *p256PrivateKey) Alg() string       { return AlgP256 }

func (k *p256PrivateKey) Bytes() []byte { return bytes.Clone(k.scalar[:]) }

func (k *p256PrivateKey) Multibase() string {
	return encodeMultibase(prefixP256Priv, k.scalar[:])
}
