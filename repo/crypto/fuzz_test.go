package crypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

// multibaseSeeds returns real keys from the interop vectors plus adversarial
// shapes around them.
func multibaseSeeds(t testing.TB) []string {
	t.Helper()
	var fixtures []signatureFixture
	readJSON(t, "signature-fixtures.json", &fixtures)
	var w3cK []w3cK256Vector
	readJSON(t, "w3c_didkey_K256.json", &w3cK)
	var w3cP []w3cP256Vector
	readJSON(t, "w3c_didkey_P256.json", &w3cP)

	var seeds []string
	for _, fx := range fixtures {
		mb := strings.TrimPrefix(fx.PublicKeyDID, DIDKeyPrefix)
		seeds = append(seeds, mb, fx.PublicKeyMultibase, mb[:len(mb)-1], mb+"1")
	}
	for _, v := range w3cK {
		seeds = append(seeds, strings.TrimPrefix(v.PublicDIDKey, DIDKeyPrefix))
	}
	for _, v := range w3cP {
		seeds = append(seeds, strings.TrimPrefix(v.PublicDIDKey, DIDKeyPrefix))
	}
	point := bytes.Repeat([]byte{0xff}, 32)
	seeds = append(seeds,
		"", "z", "z1", "z11111111", "zz", "did:key:z",
		"z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		encodeMultibase(prefixP256Pub, append([]byte{0x02}, point...)),
		encodeMultibase(prefixK256Pub, append([]byte{0x03}, point...)),
		encodeMultibase(prefixK256Pub, append([]byte{0x02}, make([]byte, 32)...)),
		encodeMultibase(prefixP256Pub, append([]byte{0x04}, make([]byte, 64)...)),
		"z"+base58.Encode(binary.AppendUvarint(nil, 1<<63)),
	)
	return seeds
}

func checkParsedPublic(t *testing.T, in string, k PublicKey, err error) {
	if err != nil {
		if !errors.Is(err, ErrInvalidKey) && !errors.Is(err, ErrUnsupportedKey) {
			t.Fatalf("%q: error %v wraps neither ErrInvalidKey nor ErrUnsupportedKey", in, err)
		}
		if k != nil {
			t.Fatalf("%q: key returned with error", in)
		}
		return
	}
	mb := k.Multibase()
	again, err := ParsePublicMultibase(mb)
	if err != nil {
		t.Fatalf("%q: re-encoded %q does not parse: %v", in, mb, err)
	}
	if !again.Equal(k) || again.Multibase() != mb || !bytes.Equal(again.Bytes(), k.Bytes()) {
		t.Fatalf("%q: round trip changed the key", in)
	}
	if again.DIDKey() != DIDKeyPrefix+mb {
		t.Fatalf("%q: DIDKey mismatch", in)
	}
}

func FuzzParsePublicMultibase(f *testing.F) {
	for _, s := range multibaseSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicMultibase(s)
		checkParsedPublic(t, s, k, err)
		if err == nil && k.Multibase() != s {
			// Only the canonical compressed form is accepted, and base58 is
			// a bijection, so the string must come back byte for byte.
			t.Fatalf("%q re-encodes as %q", s, k.Multibase())
		}
	})
}

func FuzzParseDIDKey(f *testing.F) {
	for _, s := range multibaseSeeds(f) {
		f.Add(DIDKeyPrefix + s)
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseDIDKey(s)
		checkParsedPublic(t, s, k, err)
		if err == nil && k.DIDKey() != s {
			t.Fatalf("%q re-encodes as %q", s, k.DIDKey())
		}
	})
}

func FuzzParsePublicLegacyMultibase(f *testing.F) {
	for _, s := range multibaseSeeds(f) {
		f.Add(s, VerificationMethodP256)
		f.Add(s, VerificationMethodK256)
		f.Add(s, VerificationMethodMultikey)
	}
	f.Add("z"+base58.Encode(append([]byte{0x04}, make([]byte, 64)...)), VerificationMethodK256)
	f.Add("z", "")
	f.Fuzz(func(t *testing.T, s, vmType string) {
		k, err := ParsePublicLegacyMultibase(s, vmType)
		checkParsedPublic(t, s, k, err)
	})
}

func FuzzParsePrivateMultibase(f *testing.F) {
	for _, s := range multibaseSeeds(f) {
		f.Add(s)
	}
	f.Add(encodeMultibase(prefixP256Priv, bytes.Repeat([]byte{0xff}, 32)))
	f.Add(encodeMultibase(prefixK256Priv, append(make([]byte, 31), 1)))
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePrivateMultibase(s)
		if err != nil {
			if k != nil {
				t.Fatal("key returned with error")
			}
			return
		}
		if k.Multibase() != s {
			t.Fatalf("%q re-encodes as %q", s, k.Multibase())
		}
		again, err := ParsePrivateBytes(k.Alg(), k.Bytes())
		if err != nil || !again.Public().Equal(k.Public()) {
			t.Fatalf("%q: raw round trip: %v", s, err)
		}
	})
}

// FuzzVerify feeds arbitrary signature and message bytes to keys on both
// curves (the fixture keys, picked by index). It must never panic, errors
// must wrap ErrInvalidSignature, and anything accepted must be a 64-byte
// low-S signature whose high-S twin is rejected.
func FuzzVerify(f *testing.F) {
	var fixtures []signatureFixture
	readJSON(f, "signature-fixtures.json", &fixtures)
	var keys []PublicKey
	for i, fx := range fixtures {
		k, err := ParseDIDKey(fx.PublicKeyDID)
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, k)
		msg := mustB64(f, fx.MessageBase64)
		sig := mustB64(f, fx.SignatureBase64)
		for _, shape := range [][]byte{sig, nil, sig[:len(sig)/2], append(sig, 0), bytes.Repeat([]byte{0xff}, 64), make([]byte, 64)} {
			f.Add(uint8(i), msg, shape)
		}
	}
	f.Fuzz(func(t *testing.T, idx uint8, msg, sig []byte) {
		k := keys[int(idx)%len(keys)]
		err := k.Verify(msg, sig)
		if err != nil {
			if !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("error %v does not wrap ErrInvalidSignature", err)
			}
			return
		}
		if len(sig) != 64 {
			t.Fatalf("accepted %d-byte signature", len(sig))
		}
		if err := k.Verify(msg, twinS(t, k.Alg(), sig)); !errors.Is(err, ErrHighS) {
			t.Fatalf("accepted signature's twin: err = %v, want ErrHighS", err)
		}
	})
}
