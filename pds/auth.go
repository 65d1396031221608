package pds

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/conflux-atproto/conflux/pds/internal/token"
)

// caller is who made a request: an account (by its access token) or the
// administrator.
type caller struct {
	did   string
	admin bool
}

var (
	errAuthRequired = newXRPCError(http.StatusUnauthorized, "AuthenticationRequired", "authentication required: send Authorization: Bearer <accessJwt>")
	errAdminOnly    = newXRPCError(http.StatusUnauthorized, "AuthenticationRequired", "this call needs admin credentials")
)

// authenticate checks the Authorization header: Basic admin:<password> or
// Bearer <password> for the administrator, otherwise a Bearer token of the
// given scope issued by this host.
func (p *PDS) authenticate(c echo.Context, scope string) (caller, error) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	if h == "" {
		return caller{}, errAuthRequired
	}
	scheme, cred, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		user, pw, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok || user != "admin" || !p.isAdminPassword(pw) {
			return caller{}, newXRPCError(http.StatusUnauthorized, "AuthenticationRequired", "bad admin credentials")
		}
		return caller{admin: true}, nil
	case "bearer":
		if p.isAdminPassword(cred) {
			return caller{admin: true}, nil
		}
		claims, err := token.Parse(p.secret, cred, p.cfg.Now())
		switch {
		case errors.Is(err, token.ErrExpired):
			return caller{}, newXRPCError(http.StatusBadRequest, "ExpiredToken", "token has expired")
		case err != nil:
			return caller{}, newXRPCError(http.StatusBadRequest, "InvalidToken", "token could not be verified")
		case claims.Scope != scope:
			return caller{}, newXRPCError(http.StatusBadRequest, "InvalidToken", "token has scope %q, this call needs %q", claims.Scope, scope)
		case claims.Aud != p.serviceDID:
			return caller{}, newXRPCError(http.StatusBadRequest, "InvalidToken", "token is for %q, not this host", claims.Aud)
		}
		return caller{did: claims.Sub}, nil
	}
	return caller{}, newXRPCError(http.StatusUnauthorized, "AuthenticationRequired", "unsupported authorization scheme %q", scheme)
}

func (p *PDS) isAdminPassword(pw string) bool {
	a := p.cfg.AdminPassword
	return a != "" && subtle.ConstantTimeCompare([]byte(pw), []byte(a)) == 1
}

// authorizeRepo authenticates a write to repo (a DID or handle): the
// administrator may write anywhere, an account only to its own repo.
func (p *PDS) authorizeRepo(c echo.Context, repo string) (string, error) {
	who, err := p.authenticate(c, token.ScopeAccess)
	if err != nil {
		return "", err
	}
	did, err := p.ResolveRepo(repo)
	if err != nil {
		return "", err
	}
	if !who.admin && did != who.did {
		return "", newXRPCError(http.StatusForbidden, "Forbidden", "the session of %s may not write to repo %s", who.did, did)
	}
	return did, nil
}

// session is the token pair handed out by createSession and friends.
type session struct {
	AccessJwt  string `json:"accessJwt"`
	RefreshJwt string `json:"refreshJwt"`
	Handle     string `json:"handle"`
	DID        string `json:"did"`
	Active     bool   `json:"active"`
	Status     string `json:"status,omitempty"`
}

// issueSession signs a new access and refresh token for did and records the
// refresh token so it can be used once.
func (p *PDS) issueSession(acct Account) (session, error) {
	now := p.cfg.Now()
	access, err := token.Sign(p.secret, token.Claims{
		Typ: token.TypAccess, Scope: token.ScopeAccess, Sub: acct.DID, Aud: p.serviceDID,
		IAT: now.Unix(), EXP: now.Add(AccessTTL).Unix(),
	})
	if err != nil {
		return session{}, err
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return session{}, err
	}
	rc := token.Claims{
		Typ: token.TypRefresh, Scope: token.ScopeRefresh, Sub: acct.DID, Aud: p.serviceDID,
		JTI: hex.EncodeToString(jti), IAT: now.Unix(), EXP: now.Add(RefreshTTL).Unix(),
	}
	refresh, err := token.Sign(p.secret, rc)
	if err != nil {
		return session{}, err
	}
	b := p.db.NewBatch()
	defer b.Close()
	if err := setCBOR(b, refreshKey(rc.JTI), &refreshRec{DID: acct.DID, Exp: rc.EXP}); err != nil {
		return session{}, err
	}
	if err := b.Commit(p.wopts); err != nil {
		return session{}, fmt.Errorf("store refresh token: %w", err)
	}
	return session{AccessJwt: access, RefreshJwt: refresh, Handle: acct.Handle, DID: acct.DID,
		Active: acct.Active, Status: acct.Status}, nil
}

// login checks an identifier (handle or DID) and password.
func (p *PDS) login(identifier, password string) (Account, error) {
	did, err := p.ResolveRepo(strings.TrimPrefix(identifier, "@"))
	if err != nil {
		return Account{}, ErrAuthFailed
	}
	st, err := p.lockRepo(did)
	if err != nil {
		return Account{}, ErrAuthFailed
	}
	hash, acct := st.acct.PasswordHash, st.public()
	st.mu.Unlock()
	if hash == "" || bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return Account{}, ErrAuthFailed
	}
	return acct, nil
}

// useRefreshToken checks a refresh token and revokes it (a refresh token is
// good for one refresh).
func (p *PDS) useRefreshToken(c echo.Context) (string, error) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "", errAuthRequired
	}
	claims, err := token.Parse(p.secret, tok, p.cfg.Now())
	switch {
	case errors.Is(err, token.ErrExpired):
		return "", newXRPCError(http.StatusBadRequest, "ExpiredToken", "token has expired")
	case err != nil || claims.Scope != token.ScopeRefresh || claims.JTI == "" || claims.Aud != p.serviceDID:
		return "", newXRPCError(http.StatusBadRequest, "InvalidToken", "not a refresh token of this host")
	}
	var rec refreshRec
	found, err := getCBOR(p.db, refreshKey(claims.JTI), &rec)
	if err != nil {
		return "", err
	}
	if !found || rec.DID != claims.Sub {
		return "", newXRPCError(http.StatusBadRequest, "ExpiredToken", "refresh token was revoked or already used")
	}
	if err := p.db.Delete(refreshKey(claims.JTI), pebble.Sync); err != nil {
		return "", err
	}
	return claims.Sub, nil
}
