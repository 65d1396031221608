package pds

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

const carMIME = "application/vnd.ipld.car"

// syncRepo resolves the did parameter of a sync call and checks that the
// repo is available (active) for export.
func (p *PDS) syncRepo(c echo.Context) (string, Account, error) {
	did, err := syntax.ParseDID(c.QueryParam("did"))
	if err != nil {
		return "", Account{}, fmt.Errorf("%w: did: %w", ErrInvalidRequest, err)
	}
	acct, err := p.account(string(did))
	if err != nil {
		return "", Account{}, err
	}
	switch acct.Status {
	case StatusDeactivated:
		return "", Account{}, fmt.Errorf("%w: %s", ErrRepoDeactivated, did)
	case StatusTakendown:
		return "", Account{}, fmt.Errorf("%w: %s", ErrRepoTakendown, did)
	}
	return string(did), acct, nil
}

// sendCAR buffers a CAR export and sends it; buffering lets an error that
// happens mid-export still be answered as an XRPC error.
func sendCAR(c echo.Context, write func(*bytes.Buffer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, carMIME, buf.Bytes())
}

// syncGetRepo streams the export (a repo can be far larger than is worth
// buffering). Until the first byte is written a failure is still an XRPC
// error; after that it can only cut the response short, which the client
// sees as a truncated CAR.
func (p *PDS) syncGetRepo(c echo.Context) error {
	did, _, err := p.syncRepo(c)
	if err != nil {
		return err
	}
	lw := &lazyWriter{c: c}
	err = p.ExportRepo(lw, did, c.QueryParam("since"))
	if err != nil && lw.started {
		p.log.Error("getRepo export failed mid-stream", "did", did, "err", err)
		return nil
	}
	return err
}

// lazyWriter commits the CAR response header on the first write.
type lazyWriter struct {
	c       echo.Context
	started bool
}

func (w *lazyWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.started = true
		w.c.Response().Header().Set(echo.HeaderContentType, carMIME)
		w.c.Response().WriteHeader(http.StatusOK)
	}
	return w.c.Response().Write(b)
}

func (p *PDS) syncGetLatestCommit(c echo.Context) error {
	_, acct, err := p.syncRepo(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"cid": acct.Commit.String(), "rev": acct.Rev})
}

func (p *PDS) syncGetRepoStatus(c echo.Context) error {
	did, err := syntax.ParseDID(c.QueryParam("did"))
	if err != nil {
		return fmt.Errorf("%w: did: %w", ErrInvalidRequest, err)
	}
	acct, err := p.account(string(did))
	if err != nil {
		return err
	}
	out := map[string]any{"did": acct.DID, "active": acct.Active}
	if acct.Active {
		out["rev"] = acct.Rev
	} else {
		out["status"] = acct.Status
	}
	return c.JSON(http.StatusOK, out)
}

func (p *PDS) syncListRepos(c echo.Context) error {
	limit, err := parseLimit(c.QueryParam("limit"), 500, 1000)
	if err != nil {
		return err
	}
	from, err := parseUIDCursor(c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	repos := make([]map[string]any, 0, min(limit, 64))
	var last uint64
	more := false
	err = p.scanAccounts(from+1, limit+1, func(uid uint64, did string) (bool, error) {
		if len(repos) == limit {
			more = true
			return false, nil
		}
		acct, err := p.account(did)
		if err != nil {
			return false, err
		}
		r := map[string]any{"did": acct.DID, "head": acct.Commit.String(), "rev": acct.Rev, "active": acct.Active}
		if acct.Status != "" {
			r["status"] = acct.Status
		}
		repos = append(repos, r)
		last = uid
		return true, nil
	})
	if err != nil {
		return err
	}
	out := map[string]any{"repos": repos}
	if more {
		out["cursor"] = strconv.FormatUint(last, 10)
	}
	return c.JSON(http.StatusOK, out)
}

func (p *PDS) syncGetRecord(c echo.Context) error {
	did, _, err := p.syncRepo(c)
	if err != nil {
		return err
	}
	coll, rkey := c.QueryParam("collection"), c.QueryParam("rkey")
	return sendCAR(c, func(b *bytes.Buffer) error { return p.ExportRecord(b, did, coll, rkey) })
}

func (p *PDS) syncGetBlob(c echo.Context) error {
	did, _, err := p.syncRepo(c)
	if err != nil {
		return err
	}
	bc, err := cid.Decode(c.QueryParam("cid"))
	if err != nil {
		return fmt.Errorf("%w: cid: %w", ErrInvalidRequest, err)
	}
	data, mimeType, err := p.GetBlob(did, bc)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	// A blob is user content served from the host's origin: never let a
	// browser sniff it into something active.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	return c.Blob(http.StatusOK, mimeType, data)
}

func (p *PDS) syncGetBlocks(c echo.Context) error {
	did, _, err := p.syncRepo(c)
	if err != nil {
		return err
	}
	raw := c.QueryParams()["cids"]
	if len(raw) == 0 || len(raw) > 1000 {
		return fmt.Errorf("%w: give 1 to 1000 cids", ErrInvalidRequest)
	}
	cids := make([]cid.CID, len(raw))
	for i, s := range raw {
		if cids[i], err = cid.Decode(s); err != nil {
			return fmt.Errorf("%w: cids/%d: %w", ErrInvalidRequest, i, err)
		}
	}
	return sendCAR(c, func(b *bytes.Buffer) error { return p.ExportBlocks(b, did, cids) })
}
