package relay

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/relay/internal/state"
)

// XRPC error names: the one table the error handler writes from.
const (
	errInvalidRequest      = "InvalidRequest"
	errRepoNotFound        = "RepoNotFound"
	errRepoNotSynchronized = "RepoNotSynchronized"
	errRepoTakendown       = "RepoTakendown"
	errRepoDeactivated     = "RepoDeactivated"
	errRepoDeleted         = "RepoDeleted"
	errRepoInactive        = "RepoInactive"
	errHostNotFound        = "HostNotFound"
	errHostBanned          = "HostBanned"
	errInternal            = "InternalServerError"
)

// xrpcError is an error with its XRPC name and HTTP status.
type xrpcError struct {
	status int
	name   string
	msg    string
}

func (e *xrpcError) Error() string { return e.name + ": " + e.msg }

func xerr(status int, name, msg string) error { return &xrpcError{status, name, msg} }

// HostCursor returns the stored resume cursor of a host: the last upstream
// seq whose effects are committed.
func (r *Relay) HostCursor(hostname string) (int64, bool, error) {
	cp, err := consumer.NewCheckpoint(r.db, "host/"+hostname)
	if err != nil {
		return 0, false, err
	}
	return cp.Load()
}

// Handler serves the relay's HTTP API: subscribeRepos, the sync XRPC
// endpoints, health, and (with a password configured) the admin API.
func (r *Relay) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = r.errorHandler
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Server", UserAgent)
			h.Set("Access-Control-Allow-Origin", "*")
			return next(c)
		}
	})
	e.GET(consumer.Endpoint, echo.WrapHandler(r.consumers.wrap(r.sub)))
	e.GET("/", func(c echo.Context) error {
		return c.String(http.StatusOK, "Conflux relay: an atproto firehose. See /xrpc/com.atproto.sync.subscribeRepos\n")
	})
	health := func(c echo.Context) error {
		if _, err := state.ListHosts(r.db); err != nil {
			return c.JSON(http.StatusInternalServerError, map[string]string{"status": "error"})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
	e.GET("/xrpc/_health", health)
	e.GET("/_health", health)
	e.GET("/xrpc/com.atproto.sync.listRepos", r.listRepos)
	e.GET("/xrpc/com.atproto.sync.getLatestCommit", r.getLatestCommit)
	e.GET("/xrpc/com.atproto.sync.getRepoStatus", r.getRepoStatus)
	e.GET("/xrpc/com.atproto.sync.getRepo", r.getRepo)
	e.GET("/xrpc/com.atproto.sync.listHosts", r.listHosts)
	e.GET("/xrpc/com.atproto.sync.getHostStatus", r.getHostStatus)
	e.POST("/xrpc/com.atproto.sync.requestCrawl", r.requestCrawl)
	if r.cfg.AdminPassword != "" {
		r.mountAdmin(e.Group("/admin"))
	}
	return e
}

func (r *Relay) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var xe *xrpcError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &xe):
	case errors.As(err, &he):
		xe = &xrpcError{he.Code, errInvalidRequest, http.StatusText(he.Code)}
		if he.Code >= 500 {
			xe.name = errInternal
		}
	default:
		r.log.Error("xrpc", "path", c.Path(), "err", err)
		xe = &xrpcError{http.StatusInternalServerError, errInternal, "internal error"}
	}
	_ = c.JSON(xe.status, map[string]string{"error": xe.name, "message": xe.msg})
}

func limitParam(c echo.Context, def, max int) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, xerr(http.StatusBadRequest, errInvalidRequest, "limit must be 1.."+strconv.Itoa(max))
	}
	return n, nil
}

type repoEntry struct {
	DID    string `json:"did"`
	Head   string `json:"head"`
	Rev    string `json:"rev"`
	Active bool   `json:"active"`
	Status string `json:"status,omitempty"`
}

// listRepos lists the active accounts with a known commit in the order the
// relay first saw them (their UIDs), as the reference relay does; the cursor
// is the last UID, a decimal integer, given only when the page is full.
func (r *Relay) listRepos(c echo.Context) error {
	limit, err := limitParam(c, 500, 1000)
	if err != nil {
		return err
	}
	var after uint64
	if s := c.QueryParam("cursor"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return xerr(http.StatusBadRequest, errInvalidRequest, "cursor must be a listRepos cursor (a decimal integer)")
		}
	}
	repos := []repoEntry{}
	last := uint64(0)
	err = state.ListAccountsByUID(r.db, after, func(a *state.Account) bool {
		a.Local = r.localStatus(a.DID)
		if a.Commit.Defined() && a.Active() {
			repos = append(repos, repoEntry{DID: a.DID, Head: a.Commit.String(), Rev: a.Rev, Active: true})
			last = a.UID
		}
		return len(repos) < limit
	})
	if err != nil {
		return err
	}
	out := map[string]any{"repos": repos}
	if len(repos) == limit {
		out["cursor"] = strconv.FormatUint(last, 10)
	}
	return c.JSON(http.StatusOK, out)
}

func (r *Relay) account(c echo.Context) (*state.Account, error) {
	did := c.QueryParam("did")
	if did == "" {
		return nil, xerr(http.StatusBadRequest, errInvalidRequest, "did is required")
	}
	a, err := state.GetAccount(r.db, did)
	if errors.Is(err, state.ErrNotFound) {
		return nil, xerr(http.StatusNotFound, errRepoNotFound, "no such repo: "+did)
	}
	if err != nil {
		return nil, err
	}
	a.Local = r.localStatus(did)
	return a, nil
}

func (r *Relay) getLatestCommit(c echo.Context) error {
	a, err := r.account(c)
	if err != nil {
		return err
	}
	if !a.Active() {
		switch a.Status() {
		case state.LocalTakendown, state.LocalSuspended:
			return xerr(http.StatusForbidden, errRepoTakendown, "repo is taken down")
		case "deactivated":
			return xerr(http.StatusForbidden, errRepoDeactivated, "repo is deactivated")
		case "deleted":
			return xerr(http.StatusForbidden, errRepoDeleted, "repo is deleted")
		default:
			return xerr(http.StatusForbidden, errRepoInactive, "repo is inactive")
		}
	}
	if !a.Commit.Defined() {
		return xerr(http.StatusNotFound, errRepoNotSynchronized, "no commit seen yet")
	}
	return c.JSON(http.StatusOK, map[string]string{"cid": a.Commit.String(), "rev": a.Rev})
}

func (r *Relay) getRepoStatus(c echo.Context) error {
	a, err := r.account(c)
	if err != nil {
		return err
	}
	out := map[string]any{"did": a.DID, "active": a.Active()}
	if s := a.Status(); s != "" {
		out["status"] = s
	}
	if a.Rev != "" {
		out["rev"] = a.Rev
	}
	return c.JSON(http.StatusOK, out)
}

// getRepo sends the caller to the account's host: the relay keeps no repos.
func (r *Relay) getRepo(c echo.Context) error {
	a, err := r.account(c)
	if err != nil {
		return err
	}
	h, err := state.GetHost(r.db, a.Host)
	if err != nil {
		return err
	}
	scheme := "https://"
	if h.NoSSL {
		scheme = "http://"
	}
	u := *c.Request().URL
	return c.Redirect(http.StatusFound, scheme+a.Host+u.Path+"?"+u.RawQuery)
}

type hostEntry struct {
	Hostname     string `json:"hostname"`
	Seq          int64  `json:"seq"`
	AccountCount int64  `json:"accountCount"`
	Status       string `json:"status"`
	// Reason is why a host is not active (not in the lexicon; clients
	// ignore it, operators read it).
	Reason string `json:"reason,omitempty"`
}

func (r *Relay) hostEntry(h *state.Host) (hostEntry, error) {
	e := hostEntry{Hostname: h.Hostname, AccountCount: h.AccountCount, Status: h.Status, Reason: h.Reason}
	if in := r.ingester(h.Hostname); in != nil {
		e.AccountCount = in.snapshot().AccountCount
	}
	seq, ok, err := r.HostCursor(h.Hostname)
	if ok {
		e.Seq = seq
	}
	return e, err
}

func (r *Relay) ingester(hostname string) *ingester {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.ingesters[hostname]
}

// listHosts lists hosts in subscription order; the cursor is the last
// host's ID.
func (r *Relay) listHosts(c echo.Context) error {
	limit, err := limitParam(c, 200, 1000)
	if err != nil {
		return err
	}
	var after int64
	if s := c.QueryParam("cursor"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil {
			return xerr(http.StatusBadRequest, errInvalidRequest, "bad cursor")
		}
	}
	hosts, err := state.ListHosts(r.db)
	if err != nil {
		return err
	}
	slices.SortFunc(hosts, func(a, b *state.Host) int { return int(sign(a.ID - b.ID)) })
	out := []hostEntry{}
	var last int64
	for _, h := range hosts {
		if h.ID <= after {
			continue
		}
		e, err := r.hostEntry(h)
		if err != nil {
			return err
		}
		out = append(out, e)
		last = h.ID
		if len(out) == limit {
			break
		}
	}
	resp := map[string]any{"hosts": out}
	if len(out) == limit {
		resp["cursor"] = strconv.FormatInt(last, 10)
	}
	return c.JSON(http.StatusOK, resp)
}

func sign(x int64) int64 {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func (r *Relay) getHostStatus(c echo.Context) error {
	hostname, _, err := r.parseHost(c.QueryParam("hostname"))
	if err != nil {
		hostname = c.QueryParam("hostname")
	}
	h, err := state.GetHost(r.db, hostname)
	if errors.Is(err, state.ErrNotFound) {
		return xerr(http.StatusNotFound, errHostNotFound, "no such host")
	}
	if err != nil {
		return err
	}
	e, err := r.hostEntry(h)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, e)
}

func (r *Relay) requestCrawl(c echo.Context) error {
	var in struct {
		Hostname string `json:"hostname"`
	}
	if err := c.Bind(&in); err != nil || in.Hostname == "" {
		return xerr(http.StatusBadRequest, errInvalidRequest, "hostname is required")
	}
	err := r.RequestCrawl(c.Request().Context(), in.Hostname)
	switch {
	case err == nil:
		return c.NoContent(http.StatusOK)
	case errors.Is(err, ErrHostBanned), errors.Is(err, ErrRelayLoop):
		return xerr(http.StatusBadRequest, errHostBanned, err.Error())
	case errors.Is(err, ErrBadHost), errors.Is(err, ErrForbiddenAddress), errors.Is(err, ErrHostUnreachable):
		return xerr(http.StatusBadRequest, errHostNotFound, err.Error())
	}
	return err
}
