package crypto

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"testing"

	"github.com/mr-tron/base58"
)

const interopDir = "../../../shared/testdata/atproto-interop/crypto/"

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(interopDir + name)
	if err != nil {
		t.Fatalf("read vector file: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

type signatureFixture struct {
	Comment            string   `json:"comment"`
	MessageBase64      string   `json:"messageBase64"`
	Algorithm          string   `json:"algorithm"`
	DIDDocSuite        string   `json:"didDocSuite"`
	PublicKeyDID       string   `json:"publicKeyDid"`
	PublicKeyMultibase string   `json:"publicKeyMultibase"`
	SignatureBase64    string   `json:"signatureBase64"`
	ValidSignature     bool     `json:"validSignature"`
	Tags               []string `json:"tags"`
}

func TestSignatureFixtures(t *testing.T) {
	t.Parallel()
	var fixtures []signatureFixture
	readJSON(t, "signature-fixtures.json", &fixtures)
	if len(fixtures) != 6 {
		t.Fatalf("got %d fixtures, the file has 6", len(fixtures))
	}
	var valid, highS, der int
	for _, fx := range fixtures {
		t.Run(fx.Comment, func(t *testing.T) {
			msg := mustB64(t, fx.MessageBase64)
			sig := mustB64(t, fx.SignatureBase64)

			fromDID, err := ParseDIDKey(fx.PublicKeyDID)
			if err != nil {
				t.Fatalf("ParseDIDKey: %v", err)
			}
			fromDoc, err := ParsePublicLegacyMultibase(fx.PublicKeyMultibase, fx.DIDDocSuite)
			if err != nil {
				t.Fatalf("ParsePublicLegacyMultibase: %v", err)
			}
			if !fromDID.Equal(fromDoc) || !fromDoc.Equal(fromDID) {
				t.Fatal("did:key and DID document forms decode to different keys")
			}
			if fromDID.Alg() != fx.Algorithm || fromDoc.Alg() != fx.Algorithm {
				t.Fatalf("alg = %s/%s, want %s", fromDID.Alg(), fromDoc.Alg(), fx.Algorithm)
			}
			if got := fromDID.DIDKey(); got != fx.PublicKeyDID {
				t.Fatalf("DIDKey() = %s, want %s", got, fx.PublicKeyDID)
			}
			// The document form is the bare compressed point.
			if got := "z" + base58.Encode(fromDoc.Bytes()); got != fx.PublicKeyMultibase {
				t.Fatalf("re-encoded document key = %s, want %s", got, fx.PublicKeyMultibase)
			}

			for _, k := range []PublicKey{fromDID, fromDoc} {
				err := k.Verify(msg, sig)
				if fx.ValidSignature {
					if err != nil {
						t.Fatalf("valid signature rejected: %v", err)
					}
					continue
				}
				if !errors.Is(err, ErrInvalidSignature) {
					t.Fatalf("invalid signature: err = %v, want ErrInvalidSignature", err)
				}
				for _, tag := range fx.Tags {
					switch tag {
					case "high-s":
						if !errors.Is(err, ErrHighS) {
							t.Fatalf("high-S signature: err = %v, want ErrHighS", err)
						}
					case "der-encoded":
						if len(sig) == sigLen || errors.Is(err, ErrHighS) {
							t.Fatalf("DER signature (%d bytes) rejected for the wrong reason: %v", len(sig), err)
						}
					default:
						t.Fatalf("unknown tag %q", tag)
					}
				}
			}
			if !fx.ValidSignature && len(fx.Tags) == 0 {
				t.Fatal("invalid fixture without a tag saying why")
			}
			if len(fx.Tags) == 1 && fx.Tags[0] == "high-s" {
				// The fixture's only defect is its S: its low-S twin must verify.
				if err := fromDID.Verify(msg, twinS(t, fromDID.Alg(), sig)); err != nil {
					t.Fatalf("low-S twin of high-S fixture rejected: %v", err)
				}
			}
		})
		switch {
		case fx.ValidSignature:
			valid++
		case len(fx.Tags) == 1 && fx.Tags[0] == "high-s":
			highS++
		case len(fx.Tags) == 1 && fx.Tags[0] == "der-encoded":
			der++
		}
	}
	if valid != 2 || highS != 2 || der != 2 {
		t.Fatalf("fixture mix valid/high-s/der = %d/%d/%d, want 2/2/2", valid, highS, der)
	}
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

// curveOrder returns n for the named curve.
func curveOrder(t testing.TB, alg string) *big.Int {
	t.Helper()
	hexN := map[string]string{
		AlgP256: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
		AlgK256: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
	}[alg]
	n, ok := new(big.Int).SetString(hexN, 16)
	if !ok {
		t.Fatalf("no order for %s", alg)
	}
	return n
}

// twinS returns r || n-s: the other signature that verifies mathematically
// for the same key and message. It maps low-S to high-S and back.
func twinS(t testing.TB, alg string, sig []byte) []byte {
	t.Helper()
	n := curveOrder(t, alg)
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(n, s)
	out := append([]byte(nil), sig[:32]...)
	return append(out, s.FillBytes(make([]byte, 32))...)
}

type w3cP256Vector struct {
	PrivateKeyBytesBase58 string `json:"privateKeyBytesBase58"`
	PublicDIDKey          string `json:"publicDidKey"`
}

type w3cK256Vector struct {
	PrivateKeyBytesHex string `json:"privateKeyBytesHex"`
	PublicDIDKey       string `json:"publicDidKey"`
}

func TestW3CDIDKeyP256(t *testing.T) {
	t.Parallel()
	var vectors []w3cP256Vector
	readJSON(t, "w3c_didkey_P256.json", &vectors)
	if len(vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vectors {
		raw, err := base58.Decode(v.PrivateKeyBytesBase58)
		if err != nil {
			t.Fatalf("base58: %v", err)
		}
		checkW3CVector(t, AlgP256, raw, v.PublicDIDKey)
	}
}

func TestW3CDIDKeyK256(t *testing.T) {
	t.Parallel()
	var vectors []w3cK256Vector
	readJSON(t, "w3c_didkey_K256.json", &vectors)
	if len(vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vectors {
		raw, err := hex.DecodeString(v.PrivateKeyBytesHex)
		if err != nil {
			t.Fatalf("hex: %v", err)
		}
		checkW3CVector(t, AlgK256, raw, v.PublicDIDKey)
	}
}

// checkW3CVector asserts that the did:key parses, equals the public half of
// the given private key, and that both re-encode to the same string.
func checkW3CVector(t *testing.T, alg string, rawPriv []byte, didKey string) {
	t.Helper()
	priv, err := ParsePrivateBytes(alg, rawPriv)
	if err != nil {
		t.Fatalf("ParsePrivateBytes(%s): %v", alg, err)
	}
	pub, err := ParseDIDKey(didKey)
	if err != nil {
		t.Fatalf("ParseDIDKey(%s): %v", didKey, err)
	}
	if pub.Alg() != alg {
		t.Fatalf("%s: alg = %s, want %s", didKey, pub.Alg(), alg)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatalf("%s: decoded key %x, private key gives %x", didKey, pub.Bytes(), priv.Public().Bytes())
	}
	if got := priv.Public().DIDKey(); got != didKey {
		t.Fatalf("DIDKey() = %s, want %s", got, didKey)
	}
	if got := priv.Bytes(); string(got) != string(rawPriv) {
		t.Fatalf("private Bytes() = %x, want %x", got, rawPriv)
	}
	sig, err := priv.Sign([]byte(didKey))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if err := pub.Verify([]byte(didKey), sig); err != nil {
		t.Fatalf("vector key does not verify its own signature: %v", err)
	}
}
