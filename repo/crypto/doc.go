// Package crypto implements the two atproto signing curves and their
// string forms: P-256 (secp256r1, JWT alg "ES256") and K-256 (secp256k1,
// "ES256K").
//
// Keys travel as Multikey strings: "z" + base58btc(multicodec varint ‖ key
// bytes). Public keys carry the 33-byte compressed SEC1 point after the
// p256-pub (0x1200, varint 80 24) or secp256k1-pub (0xe7, varint e7 01)
// code; "did:key:" + that string is the did:key form. Private keys carry the
// 32-byte scalar after p256-priv (0x1306, varint 86 26) or secp256k1-priv
// (0x1301, varint 81 26). Older DID documents name the curve in the
// verification method type instead and store a bare SEC1 point; see
// [ParsePublicLegacyMultibase].
//
// Signatures are ECDSA over SHA-256(data), serialized as 64 bytes r‖s (not
// DER), and must be "low-S" (s ≤ n/2) on both curves: each signature has a
// high-S twin that verifies mathematically, and accepting both would make
// signed commits malleable. [PublicKey.Verify] rejects high-S, DER and
// wrong-length signatures; [PrivateKey.Sign] always emits low-S.
//
// Verification is the relay's per-commit cost, so parsed keys are meant to
// be kept (one per identity) and reused: parsing does the point
// decompression and validation once, and Verify allocates only what the
// underlying curve library does. K-256 uses gitlab.com/yawning/secp256k1-voi:
// on amd64 its verify took about 64µs against 96µs for
// github.com/decred/dcrd/dcrec/secp256k1 (BenchmarkK256LibVerify in
// libcmp_test.go re-runs the comparison; decred is now only a test
// dependency, also used to cross-check signatures). P-256 uses the standard
// library's crypto/ecdsa.
package crypto
