package crypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"

	dsecp "github.com/decred/dcrd/dcrec/secp256k1/v4"
	decdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/mr-tron/base58"
)

type curve struct {
	alg      string
	generate func() (PrivateKey, error)
	prefix   string // start of every public Multikey string for the curve
}

var curves = []curve{
	{AlgP256, GenerateP256, "zDnae"},
	{AlgK256, GenerateK256, "zQ3s"},
}

func mustGenerate(t testing.TB, c curve) PrivateKey {
	t.Helper()
	k, err := c.generate()
	if err != nil {
		t.Fatalf("generate %s: %v", c.alg, err)
	}
	return k
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range curves {
		t.Run(c.alg, func(t *testing.T) {
			t.Parallel()
			priv := mustGenerate(t, c)
			pub := priv.Public()
			if priv.Alg() != c.alg || pub.Alg() != c.alg {
				t.Fatalf("alg = %s/%s, want %s", priv.Alg(), pub.Alg(), c.alg)
			}
			if len(pub.Bytes()) != 33 || len(priv.Bytes()) != 32 {
				t.Fatalf("key sizes %d/%d, want 33/32", len(pub.Bytes()), len(priv.Bytes()))
			}
			mb := pub.Multibase()
			if !strings.HasPrefix(mb, c.prefix) {
				t.Fatalf("Multibase() = %s, want prefix %s", mb, c.prefix)
			}
			if pub.DIDKey() != "did:key:"+mb {
				t.Fatalf("DIDKey() = %s", pub.DIDKey())
			}

			fromMB, err := ParsePublicMultibase(mb)
			if err != nil || !fromMB.Equal(pub) || fromMB.Multibase() != mb {
				t.Fatalf("ParsePublicMultibase round trip: %v", err)
			}
			fromDID, err := ParseDIDKey(pub.DIDKey())
			if err != nil || !fromDID.Equal(pub) {
				t.Fatalf("ParseDIDKey round trip: %v", err)
			}
			privMB, err := ParsePrivateMultibase(priv.Multibase())
			if err != nil || !bytes.Equal(privMB.Bytes(), priv.Bytes()) || !privMB.Public().Equal(pub) {
				t.Fatalf("ParsePrivateMultibase round trip: %v", err)
			}
			privRaw, err := ParsePrivateBytes(c.alg, priv.Bytes())
			if err != nil || !privRaw.Public().Equal(pub) || privRaw.Multibase() != priv.Multibase() {
				t.Fatalf("ParsePrivateBytes round trip: %v", err)
			}

			msg := []byte("round trip " + c.alg)
			sig, err := priv.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []PublicKey{pub, fromMB, fromDID, privMB.Public()} {
				if err := k.Verify(msg, sig); err != nil {
					t.Fatalf("Verify: %v", err)
				}
			}
			// Bytes hands out copies: scribbling on one must not change the key.
			b := pub.Bytes()
			b[1] ^= 0xff
			if err := pub.Verify(msg, sig); err != nil || bytes.Equal(b, pub.Bytes()) {
				t.Fatal("Bytes() aliases the key's storage")
			}
		})
	}
}

func TestSignaturesAlwaysLowS(t *testing.T) {
	t.Parallel()
	for _, c := range curves {
		t.Run(c.alg, func(t *testing.T) {
			t.Parallel()
			priv := mustGenerate(t, c)
			half := new(big.Int).Rsh(curveOrder(t, c.alg), 1)
			// Randomized nonces give a high S about half the time before
			// normalization, so 200 signatures miss it with odds 2^-200.
			for i := range 200 {
				msg := []byte{byte(i), byte(i >> 8), 'x'}
				sig, err := priv.Sign(msg)
				if err != nil {
					t.Fatal(err)
				}
				if len(sig) != 64 {
					t.Fatalf("signature is %d bytes", len(sig))
				}
				if new(big.Int).SetBytes(sig[32:]).Cmp(half) > 0 {
					t.Fatalf("signature %d is high-S: %x", i, sig)
				}
				if err := priv.Public().Verify(msg, sig); err != nil {
					t.Fatalf("signature %d: %v", i, err)
				}
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	for _, c := range curves {
		t.Run(c.alg, func(t *testing.T) {
			t.Parallel()
			priv := mustGenerate(t, c)
			pub := priv.Public()
			msg := []byte("the message")
			sig, err := priv.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Verify(msg, sig); err != nil {
				t.Fatalf("baseline: %v", err)
			}

			// Every single-bit flip of the signature or message must fail.
			for i := range len(sig) * 8 {
				bad := bytes.Clone(sig)
				bad[i/8] ^= 1 << (i % 8)
				if err := pub.Verify(msg, bad); !errors.Is(err, ErrInvalidSignature) {
					t.Fatalf("sig bit %d flipped: err = %v", i, err)
				}
			}
			for i := range len(msg) * 8 {
				bad := bytes.Clone(msg)
				bad[i/8] ^= 1 << (i % 8)
				if err := pub.Verify(bad, sig); !errors.Is(err, ErrInvalidSignature) {
					t.Fatalf("msg bit %d flipped: err = %v", i, err)
				}
			}

			twin := twinS(t, c.alg, sig)
			if err := pub.Verify(msg, twin); !errors.Is(err, ErrHighS) {
				t.Fatalf("high-S twin: err = %v, want ErrHighS", err)
			}
			// The twin is a mathematically valid signature: prove it, so the
			// rejection above is really about S and nothing else.
			if c.alg == AlgP256 {
				ek := pub.(*p256PublicKey).key
				d := sha256.Sum256(msg)
				if !ecdsa.Verify(ek, d[:], new(big.Int).SetBytes(twin[:32]), new(big.Int).SetBytes(twin[32:])) {
					t.Fatal("high-S twin is not a valid plain ECDSA signature")
				}
			}

			cases := map[string][]byte{
				"empty":     nil,
				"short":     sig[:63],
				"long":      append(bytes.Clone(sig), 0),
				"DER":       derOf(sig),
				"zero r":    append(make([]byte, 32), sig[32:]...),
				"zero s":    append(bytes.Clone(sig[:32]), make([]byte, 32)...),
				"all zero":  make([]byte, 64),
				"r = n":     append(curveOrder(t, c.alg).FillBytes(make([]byte, 32)), sig[32:]...),
				"s = n":     append(bytes.Clone(sig[:32]), curveOrder(t, c.alg).FillBytes(make([]byte, 32))...),
				"all ones":  bytes.Repeat([]byte{0xff}, 64),
				"swapped":   append(bytes.Clone(sig[32:]), sig[:32]...),
				"other msg": mustSign(t, priv, []byte("another message")),
			}
			for name, bad := range cases {
				if err := pub.Verify(msg, bad); !errors.Is(err, ErrInvalidSignature) {
					t.Errorf("%s: err = %v, want ErrInvalidSignature", name, err)
				}
			}

			other := mustGenerate(t, c)
			if err := other.Public().Verify(msg, sig); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("other key of same curve: err = %v", err)
			}
		})
	}
}

func mustSign(t testing.TB, k PrivateKey, msg []byte) []byte {
	t.Helper()
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// derOf re-encodes a compact signature as ASN.1 DER, the form atproto
// forbids.
func derOf(sig []byte) []byte {
	b, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		panic(err)
	}
	return b
}

func TestWrongCurve(t *testing.T) {
	t.Parallel()
	p := mustGenerate(t, curves[0])
	k := mustGenerate(t, curves[1])
	msg := []byte("cross curve")
	if err := k.Public().Verify(msg, mustSign(t, p, msg)); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("K-256 key accepted P-256 signature: %v", err)
	}
	if err := p.Public().Verify(msg, mustSign(t, k, msg)); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("P-256 key accepted K-256 signature: %v", err)
	}
	if p.Public().Equal(k.Public()) || k.Public().Equal(p.Public()) || p.Public().Equal(nil) {
		t.Fatal("keys on different curves compare equal")
	}
	// The same 33 bytes under the other curve's multicodec are a different
	// key (or none at all).
	swapped := encodeMultibase(prefixK256Pub, p.Public().Bytes())
	if other, err := ParsePublicMultibase(swapped); err == nil && other.Equal(p.Public()) {
		t.Fatal("curve is not part of key identity")
	}
	// A private scalar is valid on both curves but gives different keys.
	kp, err := ParsePrivateBytes(AlgK256, p.Bytes())
	if err == nil && kp.Public().Equal(p.Public()) {
		t.Fatal("same scalar gives equal keys on both curves")
	}
}

// TestK256CrossLibrary checks our secp256k1 code against the decred
// implementation in both directions.
func TestK256CrossLibrary(t *testing.T) {
	t.Parallel()
	msg := []byte("cross library")
	digest := sha256.Sum256(msg)

	ours := mustGenerate(t, curves[1])
	dpub, err := dsecp.ParsePubKey(ours.Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	sig := mustSign(t, ours, msg)
	var r, s dsecp.ModNScalar
	r.SetByteSlice(sig[:32])
	s.SetByteSlice(sig[32:])
	if !decdsa.NewSignature(&r, &s).Verify(digest[:], dpub) {
		t.Fatal("decred rejects our signature")
	}

	dpriv, err := dsecp.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := ParsePrivateBytes(AlgK256, dpriv.Serialize())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(theirs.Public().Bytes(), dpriv.PubKey().SerializeCompressed()) {
		t.Fatal("public keys differ between libraries")
	}
	dsig := decdsa.Sign(dpriv, digest[:])
	dr, ds := dsig.R(), dsig.S()
	compact := make([]byte, 64)
	dr.PutBytesUnchecked(compact[:32])
	ds.PutBytesUnchecked(compact[32:])
	if err := theirs.Public().Verify(msg, compact); err != nil {
		t.Fatalf("we reject decred's signature: %v", err)
	}
}

func TestLegacyMultibase(t *testing.T) {
	t.Parallel()
	p := mustGenerate(t, curves[0]).Public()
	k := mustGenerate(t, curves[1]).Public()
	pu, err := p.(*p256PublicKey).key.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ku := k.(*k256PublicKey).key.Bytes()
	if len(pu) != 65 || len(ku) != 65 || pu[0] != 4 || ku[0] != 4 {
		t.Fatal("expected uncompressed SEC1 points")
	}
	// The same point, uncompressed, but flagged as a "hybrid" encoding,
	// which SEC1 permits and we do not.
	hybrid := bytes.Clone(ku)
	hybrid[0] = 0x06 | ku[64]&1

	cases := []struct {
		name, mb, vmType string
		want             PublicKey
		err              error
	}{
		{"P-256 uncompressed", "z" + base58.Encode(pu), VerificationMethodP256, p, nil},
		{"K-256 uncompressed", "z" + base58.Encode(ku), VerificationMethodK256, k, nil},
		{"P-256 compressed", "z" + base58.Encode(p.Bytes()), VerificationMethodP256, p, nil},
		{"K-256 compressed", "z" + base58.Encode(k.Bytes()), VerificationMethodK256, k, nil},
		{"Multikey type", k.Multibase(), VerificationMethodMultikey, k, nil},
		{"wrong curve type", "z" + base58.Encode(pu), VerificationMethodK256, nil, ErrInvalidKey},
		{"multicodec under legacy type", p.Multibase(), VerificationMethodP256, nil, ErrInvalidKey},
		{"hybrid point", "z" + base58.Encode(hybrid), VerificationMethodK256, nil, ErrInvalidKey},
		{"unknown type", k.Multibase(), "Ed25519VerificationKey2020", nil, ErrUnsupportedKey},
		{"not multibase", "m" + base58.Encode(pu), VerificationMethodP256, nil, ErrInvalidKey},
		{"truncated", "z" + base58.Encode(pu[:64]), VerificationMethodP256, nil, ErrInvalidKey},
	}
	for _, tc := range cases {
		got, err := ParsePublicLegacyMultibase(tc.mb, tc.vmType)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: got %v, %v", tc.name, got, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	p := mustGenerate(t, curves[0])
	k := mustGenerate(t, curves[1])
	pc, kc := p.Public().Bytes(), k.Public().Bytes()
	flipParity := func(b []byte) []byte { b = bytes.Clone(b); b[0] ^= 1; return b }
	// x = p (the field prime) is not a canonical coordinate on either curve.
	p256Prime := elliptic.P256().Params().P.FillBytes(make([]byte, 32))
	k256Prime, _ := new(big.Int).SetString("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f", 16)

	pubCases := []struct {
		name string
		in   string
		err  error
	}{
		{"empty", "", ErrInvalidKey},
		{"only z", "z", ErrInvalidKey},
		{"base58 alphabet violation", "zDnae0OIl", ErrInvalidKey},
		{"base32 multibase", "bafkrei", ErrInvalidKey},
		{"too long", "z" + strings.Repeat("2", 200), ErrInvalidKey},
		{"one prefix byte", "z" + base58.Encode([]byte{0x80}), ErrInvalidKey},
		{"ed25519", "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", ErrUnsupportedKey},
		{"private key as public", p.Multibase(), ErrUnsupportedKey},
		{"P-256 short", encodeMultibase(prefixP256Pub, pc[:32]), ErrInvalidKey},
		{"K-256 short", encodeMultibase(prefixK256Pub, kc[:32]), ErrInvalidKey},
		{"P-256 bad tag", encodeMultibase(prefixP256Pub, append([]byte{0x04}, pc[1:]...)), ErrInvalidKey},
		{"K-256 bad tag", encodeMultibase(prefixK256Pub, append([]byte{0x05}, kc[1:]...)), ErrInvalidKey},
		{"P-256 x = p", encodeMultibase(prefixP256Pub, append([]byte{0x02}, p256Prime...)), ErrInvalidKey},
		{"K-256 x = p", encodeMultibase(prefixK256Pub, append([]byte{0x02}, k256Prime.Bytes()...)), ErrInvalidKey},
		{"P-256 uncompressed", encodeMultibase(prefixP256Pub, mustUncompressedP256(t, p.Public())), ErrInvalidKey},
		{"K-256 uncompressed", encodeMultibase(prefixK256Pub, k.Public().(*k256PublicKey).key.Bytes()), ErrInvalidKey},
		{"P-256 trailing byte", encodeMultibase(prefixP256Pub, append(bytes.Clone(pc), 0)), ErrInvalidKey},
	}
	for _, tc := range pubCases {
		// A failed parse must return a nil interface, not a typed nil.
		if k, err := ParsePublicMultibase(tc.in); !errors.Is(err, tc.err) || k != nil {
			t.Errorf("ParsePublicMultibase %s: %v, err = %v, want %v", tc.name, k, err, tc.err)
		}
		if k, err := ParseDIDKey("did:key:" + tc.in); !errors.Is(err, tc.err) || k != nil {
			t.Errorf("ParseDIDKey %s: %v, err = %v, want %v", tc.name, k, err, tc.err)
		}
	}
	// Parity flips give the negated point, a different valid key.
	for _, c := range [][]byte{pc, kc} {
		prefix := prefixP256Pub
		if bytes.Equal(c, kc) {
			prefix = prefixK256Pub
		}
		neg, err := ParsePublicMultibase(encodeMultibase(prefix, flipParity(c)))
		if err != nil || bytes.Equal(neg.Bytes(), c) {
			t.Errorf("negated point: %v", err)
		}
	}

	for _, s := range []string{"", "did:key", "did:key:", "did:web:example.com", "DID:KEY:" + p.Public().Multibase(),
		"did:key:" + p.Public().Multibase() + "#frag", " did:key:" + p.Public().Multibase()} {
		if _, err := ParseDIDKey(s); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParseDIDKey(%q): err = %v", s, err)
		}
	}

	nK256, nP256 := curveOrder(t, AlgK256), curveOrder(t, AlgP256)
	privCases := []struct {
		name, alg string
		in        []byte
		err       error
	}{
		{"unknown alg", "EdDSA", p.Bytes(), ErrUnsupportedKey},
		{"P-256 zero", AlgP256, make([]byte, 32), ErrInvalidKey},
		{"K-256 zero", AlgK256, make([]byte, 32), ErrInvalidKey},
		{"P-256 n", AlgP256, nP256.FillBytes(make([]byte, 32)), ErrInvalidKey},
		{"K-256 n", AlgK256, nK256.FillBytes(make([]byte, 32)), ErrInvalidKey},
		{"P-256 short", AlgP256, p.Bytes()[:31], ErrInvalidKey},
		{"K-256 long", AlgK256, append(k.Bytes(), 1), ErrInvalidKey},
	}
	for _, tc := range privCases {
		if k, err := ParsePrivateBytes(tc.alg, tc.in); !errors.Is(err, tc.err) || k != nil {
			t.Errorf("ParsePrivateBytes %s: err = %v, want %v", tc.name, err, tc.err)
		}
	}
	for name, s := range map[string]string{
		"public as private": p.Public().Multibase(),
		"short scalar":      encodeMultibase(prefixK256Priv, k.Bytes()[:31]),
		"zero scalar":       encodeMultibase(prefixP256Priv, make([]byte, 32)),
		"not multibase":     "x" + p.Multibase()[1:],
	} {
		if _, err := ParsePrivateMultibase(s); err == nil {
			t.Errorf("ParsePrivateMultibase %s: accepted", name)
		}
	}
}

func mustUncompressedP256(t testing.TB, k PublicKey) []byte {
	t.Helper()
	b, err := k.(*p256PublicKey).key.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMulticodecPrefixes derives the prefix bytes from the multicodec table
// codes rather than trusting the literals.
func TestMulticodecPrefixes(t *testing.T) {
	t.Parallel()
	for code, prefix := range map[uint64][2]byte{
		0x1200: prefixP256Pub, 0xe7: prefixK256Pub, 0x1306: prefixP256Priv, 0x1301: prefixK256Priv,
	} {
		if got := binaryUvarint(code); !bytes.Equal(got, prefix[:]) {
			t.Errorf("varint(0x%x) = %x, want %x", code, got, prefix)
		}
	}
	if !bytes.Equal(p256HalfOrder[:], new(big.Int).Rsh(elliptic.P256().Params().N, 1).FillBytes(make([]byte, 32))) {
		t.Error("p256HalfOrder is not n/2")
	}
}

func binaryUvarint(v uint64) []byte {
	var out []byte
	for v >= 0x80 {
		out = append(out, byte(v)|0x80)
		v >>= 7
	}
	return append(out, byte(v))
}

// TestDERSignature checks the hand-rolled DER builder against encoding/asn1
// on the shapes that matter: leading zero bytes and high top bits.
func TestDERSignature(t *testing.T) {
	t.Parallel()
	vals := [][]byte{
		make([]byte, 32),
		append(make([]byte, 31), 1),
		append(make([]byte, 31), 0x80),
		bytes.Repeat([]byte{0xff}, 32),
		append([]byte{0x00, 0x80}, bytes.Repeat([]byte{0x11}, 30)...),
		append([]byte{0x7f}, bytes.Repeat([]byte{0xee}, 31)...),
	}
	for _, r := range vals {
		for _, s := range vals {
			sig := append(bytes.Clone(r), s...)
			got := appendDERSignature(nil, r, s)
			if want := derOf(sig); !bytes.Equal(got, want) {
				t.Fatalf("r=%x s=%x: got %x, want %x", r, s, got, want)
			}
		}
	}
}
