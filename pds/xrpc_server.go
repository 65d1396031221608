package pds

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/pds/internal/token"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

func (p *PDS) describeServer(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{
		"did":                  p.serviceDID,
		"availableUserDomains": p.cfg.HandleDomains,
		"inviteCodeRequired":   false,
		"links":                map[string]string{},
	})
}

func (p *PDS) createAccount(c echo.Context) error {
	var in struct {
		Handle     string `json:"handle"`
		Email      string `json:"email"`
		Password   string `json:"password"`
		DID        string `json:"did"`
		InviteCode string `json:"inviteCode"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	switch {
	case in.Handle == "":
		return newXRPCError(http.StatusBadRequest, "InvalidRequest", "input/handle is required")
	case in.Password == "":
		return newXRPCError(http.StatusBadRequest, "InvalidPassword", "input/password is required")
	case in.DID != "":
		return newXRPCError(http.StatusBadRequest, "IncompatibleDidDoc", "this host creates new DIDs only; migration is not supported")
	}
	acct, err := p.CreateAccount(c.Request().Context(), CreateAccountInput{Handle: in.Handle, Password: in.Password, Email: in.Email})
	if err != nil {
		if errors.Is(err, ErrInvalidHandle) && strings.Contains(err.Error(), "not one label") {
			return newXRPCError(http.StatusBadRequest, "UnsupportedDomain", "%v", err)
		}
		return err
	}
	s, err := p.issueSession(acct)
	if err != nil {
		return err
	}
	doc, err := p.accountDIDDoc(acct.DID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"accessJwt": s.AccessJwt, "refreshJwt": s.RefreshJwt, "handle": s.Handle, "did": s.DID, "didDoc": doc,
	})
}

// accountDIDDoc renders the DID document this host wants did to have.
func (p *PDS) accountDIDDoc(did string) (json.RawMessage, error) {
	st, err := p.lockRepo(did)
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	return p.didDoc(&st.acct, st.key.Public()).json(), nil
}

func (p *PDS) createSession(c echo.Context) error {
	var in struct {
		Identifier     string `json:"identifier"`
		Password       string `json:"password"`
		AllowTakendown bool   `json:"allowTakendown"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	acct, err := p.login(in.Identifier, in.Password)
	if err != nil {
		return err
	}
	if acct.Status == StatusTakendown && !in.AllowTakendown {
		return newXRPCError(http.StatusUnauthorized, "AccountTakedown", "account has been taken down")
	}
	s, err := p.issueSession(acct)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s)
}

func (p *PDS) refreshSession(c echo.Context) error {
	p.refreshMu.Lock()
	did, err := p.useRefreshToken(c)
	p.refreshMu.Unlock()
	if err != nil {
		return err
	}
	acct, err := p.account(did)
	if err != nil {
		return newXRPCError(http.StatusBadRequest, "InvalidToken", "the account of this token is gone")
	}
	s, err := p.issueSession(acct)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s)
}

func (p *PDS) deleteSession(c echo.Context) error {
	p.refreshMu.Lock()
	_, err := p.useRefreshToken(c)
	p.refreshMu.Unlock()
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

func (p *PDS) getSession(c echo.Context) error {
	who, err := p.authenticate(c, token.ScopeAccess)
	if err != nil {
		return err
	}
	if who.admin {
		return errAdminOnly
	}
	acct, err := p.account(who.did)
	if err != nil {
		return newXRPCError(http.StatusBadRequest, "InvalidToken", "the account of this token is gone")
	}
	out := map[string]any{"handle": acct.Handle, "did": acct.DID, "active": acct.Active}
	if acct.Status != "" {
		out["status"] = acct.Status
	}
	return c.JSON(http.StatusOK, out)
}

// sessionOrAdminDID is the account a lifecycle call is about: the session's,
// or for the administrator the did given in the input (a Conflux extension).
func (p *PDS) sessionOrAdminDID(c echo.Context, inputDID string) (string, error) {
	who, err := p.authenticate(c, token.ScopeAccess)
	if err != nil {
		return "", err
	}
	if !who.admin {
		return who.did, nil
	}
	if inputDID == "" {
		return "", newXRPCError(http.StatusBadRequest, "InvalidRequest", "admin calls name the account in input/did")
	}
	return inputDID, nil
}

func (p *PDS) deactivateAccount(c echo.Context) error {
	var in struct {
		DID         string `json:"did"`
		DeleteAfter string `json:"deleteAfter"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	did, err := p.sessionOrAdminDID(c, in.DID)
	if err != nil {
		return err
	}
	if err := p.DeactivateAccount(c.Request().Context(), did); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

func (p *PDS) activateAccount(c echo.Context) error {
	var in struct {
		DID string `json:"did"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	did, err := p.sessionOrAdminDID(c, in.DID)
	if err != nil {
		return err
	}
	if err := p.ActivateAccount(c.Request().Context(), did); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

// deleteAccount takes the account's password (the reference PDS also wants
// an emailed token; this host sends no email) or admin credentials.
func (p *PDS) deleteAccount(c echo.Context) error {
	var in struct {
		DID      string `json:"did"`
		Password string `json:"password"`
		Token    string `json:"token"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.DID == "" {
		return newXRPCError(http.StatusBadRequest, "InvalidRequest", "input/did is required")
	}
	if c.Request().Header.Get(echo.HeaderAuthorization) != "" {
		who, err := p.authenticate(c, token.ScopeAccess)
		if err != nil {
			return err
		}
		if !who.admin && who.did != in.DID {
			return newXRPCError(http.StatusForbidden, "Forbidden", "the session of %s may not delete %s", who.did, in.DID)
		}
		if !who.admin {
			if _, err := p.login(in.DID, in.Password); err != nil {
				return err
			}
		}
	} else if _, err := p.login(in.DID, in.Password); err != nil {
		return err
	}
	if err := p.DeleteAccount(c.Request().Context(), in.DID); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

func (p *PDS) resolveHandle(c echo.Context) error {
	h, err := syntax.ParseHandle(c.QueryParam("handle"))
	if err != nil {
		return newXRPCError(http.StatusBadRequest, "InvalidRequest", "handle: %v", err)
	}
	did, ok, err := getBytes(p.db, handleKey(string(h.Normalize())))
	if err != nil {
		return err
	}
	if !ok {
		return newXRPCError(http.StatusBadRequest, "HandleNotFound", "no account with handle %s on this host", h)
	}
	return c.JSON(http.StatusOK, map[string]string{"did": string(did)})
}

// hostHandle is the handle a request's Host names (port stripped).
func hostHandle(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(host)
}

// wellKnownDID answers handle resolution over HTTPS for this host's handles.
func (p *PDS) wellKnownDID(c echo.Context) error {
	did, ok, err := getBytes(p.db, handleKey(hostHandle(c.Request())))
	if err != nil {
		return err
	}
	if !ok {
		return c.String(http.StatusNotFound, "no account with this handle\n")
	}
	return c.String(http.StatusOK, string(did))
}

// wellKnownDIDDoc serves the DID document of a did:web account whose
// handle (and so DID) is the request's host.
func (p *PDS) wellKnownDIDDoc(c echo.Context) error {
	handle := hostHandle(c.Request())
	if p.cfg.DIDMethod != DIDMethodWeb {
		return newXRPCError(http.StatusNotFound, "NotFound", "this host creates did:plc accounts")
	}
	doc, err := p.accountDIDDoc("did:web:" + handle)
	if err != nil {
		return newXRPCError(http.StatusNotFound, "NotFound", "no did:web account for %s", handle)
	}
	return c.JSONBlob(http.StatusOK, doc)
}
