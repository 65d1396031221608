// Package cid implements the blessed subset of content identifiers that atproto
// uses: CIDv1, codec dag-cbor (0x71) or raw (0x55), multihash sha2-256 with a
// 32-byte digest. Anything else is rejected with a clear error.
//
// A CID is a small comparable value (no pointers, no heap allocation), so it can
// be used as a map key and copied freely. The zero value is "undefined" and
// stands for an absent link.
package cid

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
)

// Codec is a multicodec content type.
type Codec uint8

// The two codecs atproto allows.
const (
	DagCBOR Codec = 0x71
	Raw     Codec = 0x55
)

func (c Codec) String() string {
	switch c {
	case DagCBOR:
		return "dag-cbor"
	case Raw:
		return "raw"
	}
	return fmt.Sprintf("codec(0x%x)", uint8(c))
}

const (
	version1   = 0x01
	sha256Code = 0x12
	digestLen  = 32

	// Len is the size of a CID in binary form.
	Len = 4 + digestLen
	// StringLen is the size of a CID in its base32 string form ('b' prefix).
	StringLen = 59
)

// CID is a CIDv1 with a sha2-256 digest. The zero value is undefined.
type CID struct {
	codec  Codec
	digest [digestLen]byte
}

// Undef is the undefined CID (an absent link).
var Undef CID

// Errors returned by the parsers. They are wrapped with detail; compare with errors.Is.
var (
	ErrTooShort  = errors.New("cid: too short")
	ErrVersion   = errors.New("cid: only CIDv1 is supported")
	ErrCodec     = errors.New("cid: codec must be dag-cbor (0x71) or raw (0x55)")
	ErrHash      = errors.New("cid: multihash must be sha2-256 with a 32-byte digest")
	ErrTrailing  = errors.New("cid: trailing bytes")
	ErrMultibase = errors.New("cid: string must be base32 lower-case with prefix 'b'")
	ErrUndefined = errors.New("cid: undefined")
)

// Sum hashes data and returns its CID under codec.
func Sum(codec Codec, data []byte) CID {
	return CID{codec: codec, digest: sha256.Sum256(data)}
}

// New returns the CID with the given codec and sha2-256 digest.
func New(codec Codec, digest [32]byte) CID { return CID{codec: codec, digest: digest} }

// Defined reports whether c is not the zero value.
func (c CID) Defined() bool { return c.codec != 0 }

// Codec returns the content codec.
func (c CID) Codec() Codec { return c.codec }

// Digest returns the sha2-256 digest.
func (c CID) Digest() [32]byte { return c.digest }

// Matches reports whether data hashes to c.
func (c CID) Matches(data []byte) bool {
	return c.Defined() && sha256.Sum256(data) == c.digest
}

// Bytes returns the binary form (36 bytes), or nil for the undefined CID.
func (c CID) Bytes() []byte {
	if !c.Defined() {
		return nil
	}
	return c.AppendBytes(make([]byte, 0, Len))
}

// AppendBytes appends the binary form to dst.
func (c CID) AppendBytes(dst []byte) []byte {
	dst = append(dst, version1, byte(c.codec), sha256Code, digestLen)
	return append(dst, c.digest[:]...)
}

// Parse reads a CID in binary form that makes up the whole of b.
func Parse(b []byte) (CID, error) {
	c, n, err := ParsePrefix(b)
	if err != nil {
		return Undef, err
	}
	if n != len(b) {
		return Undef, fmt.Errorf("%w: %d after the CID", ErrTrailing, len(b)-n)
	}
	return c, nil
}

// ParsePrefix reads a CID in binary form at the start of b and returns it with
// the number of bytes it used.
func ParsePrefix(b []byte) (CID, int, error) {
	if len(b) < 4 {
		return Undef, 0, fmt.Errorf("%w: %d bytes", ErrTooShort, len(b))
	}
	if b[0] != version1 {
		if b[0] == sha256Code && b[1] == digestLen {
			return Undef, 0, fmt.Errorf("%w: got CIDv0", ErrVersion)
		}
		return Undef, 0, fmt.Errorf("%w: version byte 0x%x", ErrVersion, b[0])
	}
	// Codec and hash are varints; the allowed values all fit in one byte, so any
	// byte with the continuation bit set is a codec or hash we do not allow.
	codec := Codec(b[1])
	if codec != DagCBOR && codec != Raw {
		return Undef, 0, fmt.Errorf("%w: got 0x%x", ErrCodec, b[1])
	}
	if b[2] != sha256Code || b[3] != digestLen {
		return Undef, 0, fmt.Errorf("%w: got code 0x%x length %d", ErrHash, b[2], b[3])
	}
	if len(b) < Len {
		return Undef, 0, fmt.Errorf("%w: digest has %d of 32 bytes", ErrTooShort, len(b)-4)
	}
	var c CID
	c.codec = codec
	copy(c.digest[:], b[4:Len])
	return c, Len, nil
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// String returns the base32 multibase form ("bafyrei..."), or "" when undefined.
func (c CID) String() string {
	if !c.Defined() {
		return ""
	}
	var raw [Len]byte
	var out [StringLen]byte
	out[0] = 'b'
	b32.Encode(out[1:], c.AppendBytes(raw[:0]))
	return string(out[:])
}

// Decode parses the base32 multibase string form.
func Decode(s string) (CID, error) {
	if len(s) == 0 {
		return Undef, fmt.Errorf("%w: empty string", ErrMultibase)
	}
	if s[0] != 'b' {
		if len(s) == 46 && s[:2] == "Qm" {
			return Undef, fmt.Errorf("%w: got CIDv0 %q", ErrVersion, s)
		}
		return Undef, fmt.Errorf("%w: prefix %q", ErrMultibase, s[0])
	}
	if len(s) != StringLen {
		return Undef, fmt.Errorf("%w: length %d, want %d", ErrMultibase, len(s), StringLen)
	}
	var raw [Len + 1]byte
	n, err := b32.Decode(raw[:], []byte(s[1:]))
	if err != nil {
		return Undef, fmt.Errorf("%w: %v", ErrMultibase, err)
	}
	c, err := Parse(raw[:n])
	if err != nil {
		return Undef, err
	}
	if c.String() != s {
		// Non-canonical base32 (stray trailing bits) would give two strings for one CID.
		return Undef, fmt.Errorf("%w: non-canonical encoding %q", ErrMultibase, s)
	}
	return c, nil
}

// MustDecode is Decode for constants in code and tests; it panics on error.
func MustDecode(s string) CID {
	c, err := Decode(s)
	if err != nil {
		panic(err)
	}
	return c
}

// MarshalText implements encoding.TextMarshaler (the string form).
func (c CID) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *CID) UnmarshalText(b []byte) error {
	d, err := Decode(string(b))
	if err != nil {
		return err
	}
	*c = d
	return nil
}

// Compare orders CIDs by their binary form; the undefined CID sorts first.
func Compare(a, b CID) int {
	switch {
	case a.codec < b.codec:
		return -1
	case a.codec > b.codec:
		return 1
	}
	for i := range a.digest {
		if a.digest[i] != b.digest[i] {
			if a.digest[i] < b.digest[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
