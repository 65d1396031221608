package relay

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/relay/internal/state"
)

// mountAdmin serves the admin API behind HTTP Basic admin:<password>.
func (r *Relay) mountAdmin(g *echo.Group) {
	g.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			user, pw, _ := c.Request().BasicAuth()
			ok := subtle.ConstantTimeCompare([]byte(user), []byte("admin")) &
				subtle.ConstantTimeCompare([]byte(pw), []byte(r.cfg.AdminPassword))
			if ok != 1 {
				c.Response().Header().Set("WWW-Authenticate", `Basic realm="admin"`)
				return xerr(http.StatusUnauthorized, "AuthRequired", "admin password required")
			}
			return next(c)
		}
	})
	g.POST("/repo/takeDown", r.adminTakedown(state.LocalTakendown))
	g.POST("/repo/reverseTakedown", r.adminTakedown(state.LocalActive))
	g.GET("/repo/takedowns", r.adminTakedowns)
	g.GET("/pds/list", r.adminHosts)
	g.POST("/pds/requestCrawl", r.adminRequestCrawl)
	g.POST("/pds/changeLimits", r.adminChangeLimits)
	g.POST("/pds/block", r.adminBlock(true))
	g.POST("/pds/unblock", r.adminBlock(false))
	g.POST("/subs/banDomain", r.adminBanDomain(true))
	g.POST("/subs/unbanDomain", r.adminBanDomain(false))
	g.GET("/subs/listDomainBans", r.adminListDomainBans)
	g.GET("/consumers/list", r.adminConsumers)
}

// Takedown sets did's local status and emits the recomputed #account.
func (r *Relay) Takedown(ctx context.Context, did string, down bool) error {
	status := state.LocalActive
	if down {
		status = state.LocalTakendown
	}
	if err := r.setLocal(r.db, did, status); err != nil {
		return err
	}
	if err := state.Sync(r.db); err != nil {
		return err
	}
	a, err := state.GetAccount(r.db, did)
	if errors.Is(err, state.ErrNotFound) {
		a = &state.Account{DID: did, Upstream: state.LocalActive, UpstreamActive: true}
	} else if err != nil {
		return err
	}
	a.Local = status
	return r.emit(ctx, &firehose.Account{DID: did, Active: a.Active(), Status: a.Status()})
}

func (r *Relay) adminTakedown(status string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in struct {
			DID string `json:"did"`
		}
		if err := c.Bind(&in); err != nil || !strings.HasPrefix(in.DID, "did:") {
			return xerr(http.StatusBadRequest, errInvalidRequest, "did is required")
		}
		if err := r.Takedown(c.Request().Context(), in.DID, status != state.LocalActive); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	}
}

func (r *Relay) adminTakedowns(c echo.Context) error {
	dids := []string{}
	err := state.ListLocal(r.db, func(did, status string) {
		if status == state.LocalTakendown {
			dids = append(dids, did)
		}
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"dids": dids})
}

func (r *Relay) adminHosts(c echo.Context) error {
	hosts, err := state.ListHosts(r.db)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, h := range hosts {
		in := r.ingester(h.Hostname)
		e, err := r.hostEntry(h)
		if err != nil {
			return err
		}
		out = append(out, map[string]any{
			"Host": h.Hostname, "Status": h.Status, "Lenient": h.Lenient, "AccountLimit": h.AccountLimit,
			"UserCount": e.AccountCount, "Cursor": e.Seq, "HasActiveConnection": in != nil,
		})
	}
	return c.JSON(http.StatusOK, out)
}

func (r *Relay) adminRequestCrawl(c echo.Context) error {
	var in struct {
		Hostname string `json:"hostname"`
	}
	if err := c.Bind(&in); err != nil || in.Hostname == "" {
		return xerr(http.StatusBadRequest, errInvalidRequest, "hostname is required")
	}
	if err := r.AddHost(c.Request().Context(), in.Hostname, HostOptions{}); err != nil {
		return xerr(http.StatusBadRequest, errHostNotFound, err.Error())
	}
	return c.NoContent(http.StatusOK)
}

// SetAccountLimit changes a host's account limit. New accounts beyond it
// are throttled; raising it re-activates throttled accounts of the host (in
// DID order) up to the new limit, emitting #account for each.
func (r *Relay) SetAccountLimit(ctx context.Context, hostname string, limit int64) error {
	h, err := state.GetHost(r.db, hostname)
	if err != nil {
		return err
	}
	in := r.ingester(hostname)
	count := h.AccountCount
	if in != nil {
		in.mu.Lock()
		in.mu.host.AccountLimit = limit
		count = in.mu.host.AccountCount
		in.mu.Unlock()
	}
	h.AccountLimit, h.AccountCount = limit, count
	var throttled []string
	if err := state.ListLocal(r.db, func(did, status string) {
		if status == state.LocalHostThrottled {
			throttled = append(throttled, did)
		}
	}); err != nil {
		return err
	}
	for _, did := range throttled {
		if h.AccountCount >= limit {
			break
		}
		a, err := state.GetAccount(r.db, did)
		if err != nil || a.Host != hostname {
			continue
		}
		if err := r.setLocal(r.db, did, state.LocalActive); err != nil {
			return err
		}
		h.AccountCount++
		a.Local = state.LocalActive
		if err := r.emit(ctx, &firehose.Account{DID: did, Active: a.Active(), Status: a.Status()}); err != nil {
			return err
		}
	}
	if in != nil {
		in.mu.Lock()
		in.mu.host.AccountCount = h.AccountCount
		in.mu.Unlock()
	}
	if err := state.PutHost(r.db, h); err != nil {
		return err
	}
	return state.Sync(r.db)
}

func (r *Relay) adminChangeLimits(c echo.Context) error {
	var in struct {
		Host      string `json:"host"`
		RepoLimit int64  `json:"repo_limit"`
	}
	if err := c.Bind(&in); err != nil || in.Host == "" || in.RepoLimit < 0 {
		return xerr(http.StatusBadRequest, errInvalidRequest, "host and repo_limit are required")
	}
	if err := r.SetAccountLimit(c.Request().Context(), in.Host, in.RepoLimit); errors.Is(err, state.ErrNotFound) {
		return xerr(http.StatusNotFound, errHostNotFound, in.Host)
	} else if err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

func (r *Relay) adminBlock(block bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		host := c.QueryParam("host")
		status := state.HostActive
		if block {
			status = state.HostBanned
		}
		err := r.StopHost(host, status)
		if errors.Is(err, state.ErrNotFound) {
			return xerr(http.StatusNotFound, errHostNotFound, host)
		}
		if err != nil {
			return err
		}
		if !block {
			h, err := state.GetHost(r.db, host)
			if err != nil {
				return err
			}
			r.startIngester(h)
		}
		return c.NoContent(http.StatusOK)
	}
}

func (r *Relay) adminBanDomain(ban bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in struct {
			Domain string `json:"domain"`
		}
		if err := c.Bind(&in); err != nil || in.Domain == "" {
			return xerr(http.StatusBadRequest, errInvalidRequest, "domain is required")
		}
		d := strings.ToLower(strings.TrimSuffix(in.Domain, "."))
		var err error
		if ban {
			err = state.BanDomain(r.db, d)
		} else {
			err = state.UnbanDomain(r.db, d)
		}
		if err == nil {
			err = state.Sync(r.db)
		}
		if err != nil {
			return err
		}
		if ban {
			r.stopBannedHosts()
		}
		return c.NoContent(http.StatusOK)
	}
}

// stopBannedHosts disconnects hosts a new domain ban covers.
func (r *Relay) stopBannedHosts() {
	r.mu.Lock()
	names := make([]string, 0, len(r.mu.ingesters))
	for n := range r.mu.ingesters {
		names = append(names, n)
	}
	r.mu.Unlock()
	for _, n := range names {
		if r.domainBanned(n) {
			if err := r.StopHost(n, state.HostBanned); err != nil {
				r.log.Error("stop banned host", "host", n, "err", err)
			}
		}
	}
}

func (r *Relay) adminListDomainBans(c echo.Context) error {
	bans, err := state.DomainBans(r.db)
	if err != nil {
		return err
	}
	if bans == nil {
		bans = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{"banned_domains": bans})
}

// adminConsumers lists the connected subscribers (per-connection event
// counts are in the subscribe server's metrics, not here).
func (r *Relay) adminConsumers(c echo.Context) error {
	return c.JSON(http.StatusOK, r.consumers.list())
}
