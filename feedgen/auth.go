package feedgen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// methodGetFeedSkeleton is the lxm a service-auth token must name.
const methodGetFeedSkeleton = "app.bsky.feed.getFeedSkeleton"

// DefaultAuthLeeway is the clock skew allowed on exp.
const DefaultAuthLeeway = 30 * time.Second

// maxTokenLen bounds a bearer token before any decoding; real service
// tokens are a few hundred bytes.
const maxTokenLen = 4096

// KeyResolver finds an account's signing key. Refresh bypasses any cache;
// it is called once after a signature failure, since the key may have
// rotated. *identity.Cache implements it.
type KeyResolver interface {
	Lookup(ctx context.Context, did string) (*identity.Identity, error)
	Refresh(ctx context.Context, did string) (*identity.Identity, error)
}

// AuthConfig enables service-auth JWT checks on getFeedSkeleton.
type AuthConfig struct {
	Keys KeyResolver
	// Required rejects requests without a token; otherwise they are served
	// anonymously.
	Required bool
	// Leeway on exp; DefaultAuthLeeway if zero.
	Leeway time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
}

type jwtClaims struct {
	Iss string `json:"iss"`
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Lxm string `json:"lxm"`
}

// parsedToken is a syntactically valid token whose signature is unchecked.
type parsedToken struct {
	header jwtHeader
	claims jwtClaims
	signed []byte // header.payload, the signed bytes
	sig    []byte
	issuer string // iss without a #fragment
}

var errToken = errors.New("bad service token")

// parseToken decodes a compact JWS with a JSON header and claims. It checks
// shape only: alg, typ and field types.
func parseToken(tok string) (*parsedToken, error) {
	if len(tok) > maxTokenLen {
		return nil, fmt.Errorf("%w: too long", errToken)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: want 3 parts, got %d", errToken, len(parts))
	}
	var p parsedToken
	if err := decodePart(parts[0], &p.header); err != nil {
		return nil, fmt.Errorf("%w: header: %w", errToken, err)
	}
	if p.header.Alg != crypto.AlgP256 && p.header.Alg != crypto.AlgK256 {
		return nil, fmt.Errorf("%w: alg %q not allowed", errToken, p.header.Alg)
	}
	switch p.header.Typ {
	case "at+jwt", "refresh+jwt", "dpop+jwt":
		return nil, fmt.Errorf("%w: typ %q is not a service token", errToken, p.header.Typ)
	}
	if err := decodePart(parts[1], &p.claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", errToken, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", errToken, err)
	}
	p.sig = sig
	p.signed = []byte(tok[:len(parts[0])+1+len(parts[1])])
	p.issuer, _, _ = strings.Cut(p.claims.Iss, "#")
	if _, err := syntax.ParseDID(p.issuer); err != nil {
		return nil, fmt.Errorf("%w: iss: %w", errToken, err)
	}
	return &p, nil
}

func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// checkClaims applies the claim checks in the reference order.
func (p *parsedToken) checkClaims(aud string, now time.Time, leeway time.Duration) error {
	if p.claims.Exp == 0 || now.After(time.Unix(p.claims.Exp, 0).Add(leeway)) {
		return fmt.Errorf("%w: expired", errToken)
	}
	if p.claims.Aud != aud {
		return fmt.Errorf("%w: aud %q, want %q", errToken, p.claims.Aud, aud)
	}
	// A missing lxm is accepted, as the reference does: older PDSes mint
	// tokens without it.
	if p.claims.Lxm != "" && p.claims.Lxm != methodGetFeedSkeleton {
		return fmt.Errorf("%w: lxm %q, want %q", errToken, p.claims.Lxm, methodGetFeedSkeleton)
	}
	return nil
}

func (p *parsedToken) verifyWith(id *identity.Identity) error {
	key, err := id.PublicKey()
	if err != nil {
		return fmt.Errorf("%w: %w", errToken, err)
	}
	if p.header.Alg != key.Alg() {
		return fmt.Errorf("%w: alg %s does not match the key", errToken, p.header.Alg)
	}
	if err := key.Verify(p.signed, p.sig); err != nil {
		return fmt.Errorf("%w: %w", errToken, err)
	}
	return nil
}

// verifyToken returns the requester's DID.
func (g *Generator) verifyToken(ctx context.Context, tok string) (string, error) {
	a := g.cfg.Auth
	p, err := parseToken(tok)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	leeway := a.Leeway
	if leeway == 0 {
		leeway = DefaultAuthLeeway
	}
	if err := p.checkClaims(g.cfg.ServiceDID, now, leeway); err != nil {
		return "", err
	}
	id, err := a.Keys.Lookup(ctx, p.issuer)
	if err != nil {
		return "", fmt.Errorf("%w: resolve issuer: %w", errToken, err)
	}
	if err = p.verifyWith(id); err == nil {
		return p.issuer, nil
	}
	if !errors.Is(err, crypto.ErrInvalidSignature) || errors.Is(err, crypto.ErrHighS) {
		return "", err
	}
	// The key may have rotated since we cached it: look once more.
	id, rerr := a.Keys.Refresh(ctx, p.issuer)
	if rerr != nil {
		return "", err
	}
	if err := p.verifyWith(id); err != nil {
		return "", err
	}
	return p.issuer, nil
}

// requesterKey is the echo context key of the authenticated requester DID.
const requesterKey = "feedgen.requester"

// authenticate checks the bearer token, if auth is configured, and stores
// the requester's DID in the context.
func (g *Generator) authenticate(c echo.Context) error {
	if g.cfg.Auth == nil || g.cfg.Auth.Keys == nil {
		return nil
	}
	h := c.Request().Header.Get("Authorization")
	if h == "" {
		if g.cfg.Auth.Required {
			return wrapf(ErrAuth, "service auth token required")
		}
		return nil
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return wrapf(ErrAuth, "authorization must be a Bearer token")
	}
	did, err := g.verifyToken(c.Request().Context(), strings.TrimSpace(tok))
	if err != nil {
		return wrapf(ErrAuth, "%v", err)
	}
	c.Set(requesterKey, did)
	return nil
}

// Requester returns the DID of the authenticated requester of a request
// handled by the generator, or "".
func Requester(c echo.Context) string {
	s, _ := c.Get(requesterKey).(string)
	return s
}
