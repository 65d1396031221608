package plc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// Operation types.
const (
	TypeOperation = "plc_operation"
	TypeTombstone = "plc_tombstone"
	// typeLegacyCreate is the 2022 genesis format, recognized only to be
	// rejected with a clear error.
	typeLegacyCreate = "create"
)

// The atproto entries of an operation.
const (
	SigningKeyID = "atproto"
	PDSServiceID = "atproto_pds"
	PDSType      = "AtprotoPersonalDataServer"
	handlePrefix = "at://"
)

// Limits on a submitted operation. The size and per-field limits are those
// of the reference directory; the count of verification methods is ours
// (the reference bounds it only through the size limit).
const (
	MaxOpSize              = 4000 // DAG-CBOR bytes of the signed operation
	MaxRotationKeys        = 5
	MaxAlsoKnownAs         = 10
	MaxAlsoKnownAsLen      = 256
	MaxServices            = 10
	MaxVerificationMethods = 10
	MaxIDLen               = 32 // service and verification method ids
	MaxServiceTypeLen      = 256
	MaxServiceEndpointLen  = 512
	sigLen                 = 64
	sigStringLen           = 86 // base64url of 64 bytes, unpadded
	plcIDLen               = 24
	didPrefix              = "did:plc:"
	didLen                 = len(didPrefix) + plcIDLen
	base32LowerAlphabet    = "abcdefghijklmnopqrstuvwxyz234567"
	didHashBytes           = plcIDLen * 5 / 8 // 24 base32 chars = 15 bytes
)

// Sentinel errors; the returned errors wrap them with detail.
var (
	// ErrInvalidOp: the operation is malformed or breaks a limit.
	ErrInvalidOp = errors.New("invalid PLC operation")
	// ErrLegacyOp: a legacy "create" operation. It wraps ErrInvalidOp.
	ErrLegacyOp = fmt.Errorf("%w: legacy create operations are not supported", ErrInvalidOp)
	// ErrOpTooLarge: the signed operation exceeds MaxOpSize. It wraps
	// ErrInvalidOp.
	ErrOpTooLarge = fmt.Errorf("%w: too large", ErrInvalidOp)
	// ErrUnsigned: the operation has no signature. It wraps ErrInvalidOp.
	ErrUnsigned = fmt.Errorf("%w: not signed", ErrInvalidOp)
	// ErrBadSignature: no allowed rotation key verifies the signature.
	ErrBadSignature = errors.New("PLC operation signature does not verify with any allowed rotation key")
	// ErrWrongPrev: prev does not name the operation the new one must
	// follow (null for a genesis, the current head for an update).
	ErrWrongPrev = errors.New("PLC operation prev is not the current head")
	// ErrDIDMismatch: the genesis operation does not hash to the DID.
	ErrDIDMismatch = errors.New("genesis operation does not hash to the DID")
	// ErrInvalidDID: the string is not a did:plc identifier.
	ErrInvalidDID = errors.New("invalid did:plc identifier")
)

// Service is one entry of an operation's services map.
type Service struct {
	Type     string `json:"type" cbor:"type"`
	Endpoint string `json:"endpoint" cbor:"endpoint"`
}

// Op is a PLC operation, signed or not: a plc_operation (genesis when Prev
// is undefined) or a plc_tombstone, which uses only Type, Prev and Sig.
// Obtain one from CreateGenesis, NewUpdate, NewTombstone or ParseOp, or
// fill the fields and call Sign. Changing a field of a signed Op
// invalidates its signature; the Set methods clear Sig for that reason.
type Op struct {
	Type string
	// RotationKeys are did:key strings in descending authority.
	RotationKeys []string
	// VerificationMethods maps an id (no '#') to a did:key string; atproto
	// uses "atproto" for the repository signing key.
	VerificationMethods map[string]string
	// AlsoKnownAs lists URIs; atproto's handle is the first "at://" one.
	AlsoKnownAs []string
	// Services maps an id (no '#') to a service; atproto's PDS is
	// "atproto_pds".
	Services map[string]Service
	// Prev is the CID of the previous operation; undefined (null) for a
	// genesis.
	Prev cid.CID
	// Sig is the 64-byte r||s signature; nil while unsigned.
	Sig []byte
}

// opWire is the encoded shape of a plc_operation, shared by DAG-CBOR and
// JSON. Prev is a pointer because a genesis carries an explicit null.
type opWire struct {
	Type                string             `json:"type" cbor:"type"`
	RotationKeys        []string           `json:"rotationKeys" cbor:"rotationKeys"`
	VerificationMethods map[string]string  `json:"verificationMethods" cbor:"verificationMethods"`
	AlsoKnownAs         []string           `json:"alsoKnownAs" cbor:"alsoKnownAs"`
	Services            map[string]Service `json:"services" cbor:"services"`
	Prev                *string            `json:"prev" cbor:"prev"`
	Sig                 string             `json:"sig,omitempty" cbor:"sig,omitempty"`
}

// tombstoneWire is the encoded shape of a plc_tombstone.
type tombstoneWire struct {
	Type string `json:"type" cbor:"type"`
	Prev string `json:"prev" cbor:"prev"`
	Sig  string `json:"sig,omitempty" cbor:"sig,omitempty"`
}

// Encodings. Both are immutable values, not state.
var (
	sigEncoding    = base64.RawURLEncoding.Strict()
	base32Encoding = base32.NewEncoding(base32LowerAlphabet).WithPadding(base32.NoPadding)
)

// IsTombstone reports whether op is a plc_tombstone.
func (op *Op) IsTombstone() bool { return op.Type == TypeTombstone }

// IsGenesis reports whether op is a plc_operation without prev.
func (op *Op) IsGenesis() bool { return op.Type == TypeOperation && !op.Prev.Defined() }

// wire returns the value to encode, with or without the signature.
func (op *Op) wire(withSig bool) any {
	sig := ""
	if withSig {
		sig = encodeSig(op.Sig)
	}
	if op.Type == TypeTombstone {
		return &tombstoneWire{Type: op.Type, Prev: op.Prev.String(), Sig: sig}
	}
	w := &opWire{
		Type:                op.Type,
		RotationKeys:        op.RotationKeys,
		VerificationMethods: op.VerificationMethods,
		AlsoKnownAs:         op.AlsoKnownAs,
		Services:            op.Services,
		Sig:                 sig,
	}
	// JSON writes nil slices and maps as null; the format wants them empty.
	// (DAG-CBOR writes them empty either way.)
	if w.RotationKeys == nil {
		w.RotationKeys = []string{}
	}
	if w.AlsoKnownAs == nil {
		w.AlsoKnownAs = []string{}
	}
	if w.VerificationMethods == nil {
		w.VerificationMethods = map[string]string{}
	}
	if w.Services == nil {
		w.Services = map[string]Service{}
	}
	if op.Prev.Defined() {
		p := op.Prev.String()
		w.Prev = &p
	}
	return w
}

func encodeSig(sig []byte) string {
	if len(sig) == 0 {
		return ""
	}
	return sigEncoding.EncodeToString(sig)
}

// decodeSig accepts only the canonical form: exactly 86 characters of the
// URL alphabet with zero padding bits. The Go decoder alone would skip line
// breaks, so the result is re-encoded and compared.
func decodeSig(s string) ([]byte, error) {
	if len(s) != sigStringLen {
		return nil, fmt.Errorf("%w: sig must be %d base64url characters, got %d", ErrInvalidOp, sigStringLen, len(s))
	}
	b, err := sigEncoding.DecodeString(s)
	if err != nil || len(b) != sigLen || sigEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("%w: sig is not canonical unpadded base64url", ErrInvalidOp)
	}
	return b, nil
}

// UnsignedBytes returns the DAG-CBOR encoding of op without "sig": the
// bytes a rotation key signs.
func (op *Op) UnsignedBytes() ([]byte, error) {
	if err := op.checkType(); err != nil {
		return nil, err
	}
	b, err := dagcbor.Marshal(op.wire(false))
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrInvalidOp, err)
	}
	return b, nil
}

// Bytes returns the DAG-CBOR encoding of the signed op, whose hash is its
// CID (and, for a genesis, its DID).
func (op *Op) Bytes() ([]byte, error) {
	if err := op.checkType(); err != nil {
		return nil, err
	}
	if len(op.Sig) == 0 {
		return nil, ErrUnsigned
	}
	b, err := dagcbor.Marshal(op.wire(true))
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrInvalidOp, err)
	}
	return b, nil
}

// CID returns the CID of the signed op, the value a successor names as prev.
func (op *Op) CID() (cid.CID, error) {
	b, err := op.Bytes()
	if err != nil {
		return cid.Undef, err
	}
	return cid.Sum(cid.DagCBOR, b), nil
}

// DID returns the DID a signed genesis operation creates.
func (op *Op) DID() (string, error) {
	if !op.IsGenesis() {
		return "", fmt.Errorf("%w: only a genesis plc_operation (prev null) defines a DID", ErrInvalidOp)
	}
	b, err := op.Bytes()
	if err != nil {
		return "", err
	}
	return didFromSignedBytes(b), nil
}

func didFromSignedBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return didPrefix + base32Encoding.EncodeToString(sum[:didHashBytes])
}

// Sign validates op's fields and signs its unsigned encoding with key,
// replacing any earlier signature. It does not check that key is an
// allowed rotation key; VerifyOp does.
func (op *Op) Sign(key crypto.PrivateKey) error {
	if _, err := op.validateFields(); err != nil {
		return err
	}
	data, err := op.UnsignedBytes()
	if err != nil {
		return err
	}
	sig, err := key.Sign(data)
	if err != nil {
		return fmt.Errorf("sign PLC operation: %w", err)
	}
	op.Sig = sig
	return nil
}

// Validate checks that op is a well-formed signed operation within the
// limits. It does not verify the signature; VerifyOp does.
func (op *Op) Validate() error {
	_, _, err := op.validate()
	return err
}

// validate is Validate that also returns what it computed on the way: the
// parsed rotation keys (a genesis is verified with them) and the signed
// encoding.
func (op *Op) validate() (rotation []crypto.PublicKey, signed []byte, err error) {
	rotation, err = op.validateFields()
	if err != nil {
		return nil, nil, err
	}
	if len(op.Sig) != sigLen {
		if len(op.Sig) == 0 {
			return nil, nil, ErrUnsigned
		}
		return nil, nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrInvalidOp, len(op.Sig), sigLen)
	}
	signed, err = op.Bytes()
	if err != nil {
		return nil, nil, err
	}
	if len(signed) > MaxOpSize {
		return nil, nil, fmt.Errorf("%w (%d bytes, limit %d)", ErrOpTooLarge, len(signed), MaxOpSize)
	}
	return rotation, signed, nil
}

// VerifyOp checks that op may follow prev: op is valid, its prev names
// prev's CID, and one of prev's rotation keys signed it. With prev nil, op
// must be a genesis signed by one of its own rotation keys; compare
// op.DID() with the DID separately. A tombstone cannot be followed.
func VerifyOp(op, prev *Op) error {
	rotation, _, err := op.validate()
	if err != nil {
		return err
	}
	return verifyValidated(op, rotation, prev)
}

// verifyValidated is VerifyOp for an op that validate accepted, given the
// rotation keys it parsed.
func verifyValidated(op *Op, rotation []crypto.PublicKey, prev *Op) error {
	allowed := rotation
	switch {
	case prev == nil:
		if !op.IsGenesis() {
			return fmt.Errorf("%w: a first operation must be a plc_operation with prev null", ErrWrongPrev)
		}
	case prev.IsTombstone():
		return fmt.Errorf("%w: the DID is tombstoned", ErrWrongPrev)
	default:
		want, err := prev.CID()
		if err != nil {
			return fmt.Errorf("previous operation: %w", err)
		}
		if op.Prev != want {
			return fmt.Errorf("%w: prev is %s, want %s", ErrWrongPrev, cidOrNull(op.Prev), want)
		}
		allowed = make([]crypto.PublicKey, 0, len(prev.RotationKeys))
		for _, k := range prev.RotationKeys {
			// prev was validated when it was accepted; a key that does
			// not parse simply allows nothing.
			if pub, err := crypto.ParseDIDKey(k); err == nil {
				allowed = append(allowed, pub)
			}
		}
	}
	data, err := op.UnsignedBytes()
	if err != nil {
		return err
	}
	for _, k := range allowed {
		if k.Verify(data, op.Sig) == nil {
			return nil
		}
	}
	return ErrBadSignature
}

func cidOrNull(c cid.CID) string {
	if !c.Defined() {
		return "null"
	}
	return c.String()
}

// checkType rejects types that cannot be encoded.
func (op *Op) checkType() error {
	switch op.Type {
	case TypeOperation, TypeTombstone:
		return nil
	case typeLegacyCreate:
		return ErrLegacyOp
	default:
		return fmt.Errorf("%w: unknown type %q", ErrInvalidOp, truncate(op.Type))
	}
}

// Clone returns a deep copy of op.
func (op *Op) Clone() *Op {
	c := *op
	c.RotationKeys = slices.Clone(op.RotationKeys)
	c.VerificationMethods = maps.Clone(op.VerificationMethods)
	c.AlsoKnownAs = slices.Clone(op.AlsoKnownAs)
	c.Services = maps.Clone(op.Services)
	c.Sig = bytes.Clone(op.Sig)
	return &c
}

// decodeStored decodes an operation this package encoded (Bytes) and stored.
func decodeStored(b []byte) (*Op, error) {
	var w opWire
	if err := dagcbor.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	return fromWire(&w)
}

// fromWire converts a decoded opWire (a tombstone decodes into it too) and
// checks the encoded forms of prev and sig. Field rules are in
// validateFields.
func fromWire(w *opWire) (*Op, error) {
	op := &Op{Type: w.Type}
	if err := op.checkType(); err != nil {
		return nil, err
	}
	if w.Prev != nil {
		c, err := cid.Decode(*w.Prev)
		if err != nil || c.Codec() != cid.DagCBOR || c.String() != *w.Prev {
			return nil, fmt.Errorf("%w: prev %q is not a dag-cbor CID string", ErrInvalidOp, truncate(*w.Prev))
		}
		op.Prev = c
	}
	if w.Sig != "" {
		sig, err := decodeSig(w.Sig)
		if err != nil {
			return nil, err
		}
		op.Sig = sig
	}
	if op.IsTombstone() {
		if !op.Prev.Defined() {
			return nil, fmt.Errorf("%w: tombstone without prev", ErrInvalidOp)
		}
		return op, nil
	}
	op.RotationKeys = w.RotationKeys
	op.VerificationMethods = w.VerificationMethods
	op.AlsoKnownAs = w.AlsoKnownAs
	op.Services = w.Services
	return op, nil
}

// truncate bounds outside strings before they go into error messages,
// which end up in HTTP responses and logs.
func truncate(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
