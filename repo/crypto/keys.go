package crypto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// JWT algorithm names, which double as the curve names in this package's API.
const (
	AlgP256 = "ES256"  // NIST P-256 / secp256r1
	AlgK256 = "ES256K" // secp256k1
)

// DID document verification method types for the legacy key form.
const (
	VerificationMethodP256     = "EcdsaSecp256r1VerificationKey2019"
	VerificationMethodK256     = "EcdsaSecp256k1VerificationKey2019"
	VerificationMethodMultikey = "Multikey"
)

// DIDKeyPrefix starts every did:key identifier.
const DIDKeyPrefix = "did:key:"

// Sentinel errors. ErrHighS wraps ErrInvalidSignature, so callers that only
// care whether a signature is good can test for the latter.
var (
	ErrInvalidSignature = errors.New("invalid signature")
	ErrHighS            = fmt.Errorf("%w: high-S", ErrInvalidSignature)
	ErrUnsupportedKey   = errors.New("unsupported key type")
	ErrInvalidKey       = errors.New("invalid key")
)

// PublicKey verifies atproto signatures for one curve.
type PublicKey interface {
	// Verify checks sig (64-byte compact r||s, low-S) over SHA-256(data).
	// High-S, DER and wrong-length signatures are rejected.
	Verify(data, sig []byte) error
	// Multibase is the Multikey form: "z" + base58btc of the multicodec
	// varint and the compressed point.
	Multibase() string
	// DIDKey is "did:key:" + Multibase().
	DIDKey() string
	// Bytes is the compressed SEC1 point (33 bytes); the caller may keep it.
	Bytes() []byte
	// Alg is the JWT alg name, AlgP256 or AlgK256.
	Alg() string
	// Equal reports whether other is the same key on the same curve.
	Equal(other PublicKey) bool
}

// PrivateKey signs atproto data for one curve.
type PrivateKey interface {
	// Sign returns a 64-byte r||s signature over SHA-256(data), always low-S.
	Sign(data []byte) ([]byte, error)
	Public() PublicKey
	// Bytes is the 32-byte big-endian scalar; the caller may keep it.
	Bytes() []byte
	// Multibase is the private Multikey form.
	Multibase() string
	Alg() string
}

// Unsigned-varint encodings of the multicodec codes that prefix Multikey
// bytes. Every code we accept encodes to exactly two bytes.
var (
	prefixP256Pub  = [2]byte{0x80, 0x24} // p256-pub 0x1200
	prefixK256Pub  = [2]byte{0xe7, 0x01} // secp256k1-pub 0xe7
	prefixP256Priv = [2]byte{0x86, 0x26} // p256-priv 0x1306
	prefixK256Priv = [2]byte{0x81, 0x26} // secp256k1-priv 0x1301
)

const (
	compressedLen   = 33
	uncompressedLen = 65
	scalarLen       = 32
	sigLen          = 64

	// maxMultibaseLen bounds the text we hand to the base58 decoder, whose
	// cost grows with the square of the input: the longest form we accept
	// (a legacy uncompressed point, 65 bytes) is 90 characters, so anything
	// much longer is rejected before decoding.
	maxMultibaseLen = 128
)

// decodeMultibase strips the "z" (base58btc) multibase prefix and decodes.
func decodeMultibase(s string) ([]byte, error) {
	if len(s) < 2 || s[0] != 'z' {
		return nil, fmt.Errorf("%w: not a base58btc multibase string", ErrInvalidKey)
	}
	if len(s) > maxMultibaseLen {
		return nil, fmt.Errorf("%w: multibase string too long (%d chars)", ErrInvalidKey, len(s))
	}
	b, err := base58.Decode(s[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: base58btc: %v", ErrInvalidKey, err)
	}
	return b, nil
}

func encodeMultibase(prefix [2]byte, key []byte) string {
	buf := make([]byte, 0, len(prefix)+len(key))
	buf = append(buf, prefix[:]...)
	buf = append(buf, key...)
	return "z" + base58.Encode(buf)
}

// unknownCodec describes an unrecognized multicodec prefix for an error.
func unknownCodec(b []byte) error {
	code, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("%w: malformed multicodec prefix", ErrUnsupportedKey)
	}
	return fmt.Errorf("%w: multicodec 0x%x", ErrUnsupportedKey, code)
}

// ParsePublicMultibase parses a public key in the current Multikey form.
// Only the compressed point is accepted after the multicodec prefix, so a
// parsed key's Multibase() reproduces s exactly.
func ParsePublicMultibase(s string) (PublicKey, error) {
	b, err := decodeMultibase(s)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: multikey too short", ErrInvalidKey)
	}
	switch [2]byte(b[:2]) {
	case prefixP256Pub:
		return parseP256Compressed(b[2:])
	case prefixK256Pub:
		return parseK256Compressed(b[2:])
	default:
		return nil, unknownCodec(b)
	}
}

// ParseDIDKey parses a "did:key:z..." identifier holding a P-256 or K-256
// key. A fragment ("#...") is not accepted: strip it first.
func ParseDIDKey(s string) (PublicKey, error) {
	mb, ok := strings.CutPrefix(s, DIDKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: not a did:key", ErrInvalidKey)
	}
	return ParsePublicMultibase(mb)
}

// ParsePublicLegacyMultibase parses publicKeyMultibase from a DID document
// verification method of type vmType. The legacy types name the curve and
// hold a bare SEC1 point with no multicodec prefix: uncompressed per the
// spec, but compressed points occur in the wild (and in the interop
// fixtures), so both are accepted. For type "Multikey" this is
// ParsePublicMultibase.
func ParsePublicLegacyMultibase(s string, vmType string) (PublicKey, error) {
	var parse func([]byte) (PublicKey, error)
	switch vmType {
	case VerificationMethodMultikey:
		return ParsePublicMultibase(s)
	case VerificationMethodP256:
		parse = parseP256Point
	case VerificationMethodK256:
		parse = parseK256Point
	default:
		return nil, fmt.Errorf("%w: verification method type %q", ErrUnsupportedKey, vmType)
	}
	b, err := decodeMultibase(s)
	if err != nil {
		return nil, err
	}
	return parse(b)
}

// ParsePrivateBytes parses a 32-byte big-endian scalar for alg (AlgP256 or
// AlgK256). The scalar must be in [1, n-1].
func ParsePrivateBytes(alg string, b []byte) (PrivateKey, error) {
	switch alg {
	case AlgP256:
		return parseP256Private(b)
	case AlgK256:
		return parseK256Private(b)
	default:
		return nil, fmt.Errorf("%w: alg %q", ErrUnsupportedKey, alg)
	}
}

// ParsePrivateMultibase parses a private key in Multikey form (p256-priv or
// secp256k1-priv multicodec followed by the 32-byte scalar).
func ParsePrivateMultibase(s string) (PrivateKey, error) {
	b, err := decodeMultibase(s)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: multikey too short", ErrInvalidKey)
	}
	switch [2]byte(b[:2]) {
	case prefixP256Priv:
		return parseP256Private(b[2:])
	case prefixK256Priv:
		return parseK256Private(b[2:])
	default:
		return nil, unknownCodec(b)
	}
}

// checkSigLen rejects anything but the 64-byte compact form up front; a DER
// signature is 70-72 bytes and lands here.
func checkSigLen(sig []byte) error {
	if len(sig) != sigLen {
		return fmt.Errorf("%w: %d bytes, want %d-byte r||s", ErrInvalidSignature, len(sig), sigLen)
	}
	return nil
}

// asPublic and asPrivate return a constructor's concrete result as the
// interface, keeping a nil pointer from becoming a non-nil interface value
// on the error path.
func asPublic[K PublicKey](k K, err error) (PublicKey, error) {
	if err != nil {
		return nil, err
	}
	return k, nil
}

func asPrivate[K PrivateKey](k K, err error) (PrivateKey, error) {
	if err != nil {
		return nil, err
	}
	return k, nil
}
