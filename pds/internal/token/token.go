// Package token issues and checks the PDS's session tokens: compact JWTs
// signed with HMAC-SHA256 (alg HS256) under a secret only the PDS holds.
//
// The claims follow the reference PDS: an access token has scope
// com.atproto.access and typ "at+jwt", a refresh token scope
// com.atproto.refresh, typ "refresh+jwt" and a jti that names it (so it can be
// revoked when it is used). sub is the account DID, aud the PDS's service
// DID, iat and exp are Unix seconds.
//
// Parse runs on bytes from the network: it bounds the input before decoding
// anything, accepts only HS256 (never "none", never an asymmetric alg that
// would make the secret a public key), compares MACs in constant time, and
// never panics.
package token

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Scopes and header types of the two token kinds.
const (
	ScopeAccess  = "com.atproto.access"
	ScopeRefresh = "com.atproto.refresh"
	TypAccess    = "at+jwt"
	TypRefresh   = "refresh+jwt"
)

// MaxLen bounds a token string. Ours are about 300 bytes.
const MaxLen = 4096

// MinSecretLen is the shortest HMAC key accepted.
const MinSecretLen = 32

// Errors of Parse (and Sign for a bad secret). Compare with errors.Is.
var (
	ErrMalformed = errors.New("token: malformed")
	ErrAlg       = errors.New("token: unsupported alg")
	ErrSignature = errors.New("token: bad signature")
	ErrExpired   = errors.New("token: expired")
	ErrSecret    = errors.New("token: secret too short")
)

// Claims are a token's payload plus the header's typ.
type Claims struct {
	Typ   string `json:"-"`
	Scope string `json:"scope"`
	Sub   string `json:"sub"`
	Aud   string `json:"aud"`
	JTI   string `json:"jti,omitempty"`
	IAT   int64  `json:"iat"`
	EXP   int64  `json:"exp"`
}

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
}

var b64 = base64.RawURLEncoding

// Sign encodes c as an HS256 JWT under secret.
func Sign(secret []byte, c Claims) (string, error) {
	if len(secret) < MinSecretLen {
		return "", ErrSecret
	}
	h, err := json.Marshal(header{Alg: "HS256", Typ: c.Typ})
	if err != nil {
		return "", fmt.Errorf("token header: %w", err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("token payload: %w", err)
	}
	var sb strings.Builder
	sb.Grow(b64.EncodedLen(len(h)) + b64.EncodedLen(len(p)) + 46)
	sb.WriteString(b64.EncodeToString(h))
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(p))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(sb.String()))
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(mac.Sum(nil)))
	return sb.String(), nil
}

// Parse checks tok's signature under secret and its expiry against now, and
// returns its claims. It does not check scope, typ or aud: the caller knows
// which kind of token it expects.
func Parse(secret []byte, tok string, now time.Time) (Claims, error) {
	if len(secret) < MinSecretLen {
		return Claims{}, ErrSecret
	}
	if len(tok) > MaxLen {
		return Claims{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(tok))
	}
	hb, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return Claims{}, fmt.Errorf("%w: not three parts", ErrMalformed)
	}
	pb, sb, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sb, ".") {
		return Claims{}, fmt.Errorf("%w: not three parts", ErrMalformed)
	}
	var h header
	if err := decodePart(hb, &h); err != nil {
		return Claims{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if h.Alg != "HS256" {
		return Claims{}, fmt.Errorf("%w: %q", ErrAlg, h.Alg)
	}
	sig, err := b64.DecodeString(sb)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(tok[:len(hb)+1+len(pb)]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return Claims{}, ErrSignature
	}
	var c Claims
	if err := decodePart(pb, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	c.Typ = h.Typ
	if c.EXP <= now.Unix() {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, time.Unix(c.EXP, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

// decodePart decodes one base64url JSON part strictly: no unknown shapes for
// known fields, no trailing data.
func decodePart(s string, v any) error {
	b, err := b64.DecodeString(s)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}
