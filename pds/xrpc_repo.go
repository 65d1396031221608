package pds

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/pds/internal/token"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// commitMeta is the {cid, rev} of a write's commit.
type commitMeta struct {
	CID string `json:"cid"`
	Rev string `json:"rev"`
}

func (r CommitResult) meta() commitMeta { return commitMeta{CID: r.Commit.String(), Rev: r.Rev} }

// writeInput reads the fields createRecord, putRecord and deleteRecord share.
func writeInput(in object, action repo.Action) (repoName string, w Write, swapCommit cid.CID, err error) {
	if repoName, err = in.str("repo", true); err != nil {
		return
	}
	w.Action = action
	if w.Collection, err = in.str("collection", true); err != nil {
		return
	}
	if w.RKey, err = in.str("rkey", action != repo.Create); err != nil {
		return
	}
	if swapCommit, err = in.cidStr("swapCommit"); err != nil {
		return
	}
	if action != repo.Create {
		if w.SwapRecord, err = in.cidStr("swapRecord"); err != nil {
			return
		}
	}
	if action == repo.Delete {
		return
	}
	if w.Validate, err = in.validation(); err != nil {
		return
	}
	w.Value, err = in.record("record")
	return
}

func (p *PDS) createRecord(c echo.Context) error { return p.recordWrite(c, repo.Create) }

func (p *PDS) putRecord(c echo.Context) error { return p.recordWrite(c, repo.Update) }

func (p *PDS) recordWrite(c echo.Context, action repo.Action) error {
	in, err := bindDataModel(c)
	if err != nil {
		return err
	}
	repoName, w, swap, err := writeInput(in, action)
	if err != nil {
		return err
	}
	did, err := p.authorizeRepo(c, repoName)
	if err != nil {
		return err
	}
	res, err := p.ApplyWrites(c.Request().Context(), did, []Write{w}, swap)
	if err != nil {
		return err
	}
	out := map[string]any{"uri": res.Results[0].URI, "cid": res.Results[0].CID.String(), "commit": res.meta()}
	if s := res.Results[0].ValidationStatus; s != "" {
		out["validationStatus"] = s
	}
	return c.JSON(http.StatusOK, out)
}

func (p *PDS) deleteRecord(c echo.Context) error {
	in, err := bindDataModel(c)
	if err != nil {
		return err
	}
	repoName, w, swap, err := writeInput(in, repo.Delete)
	if err != nil {
		return err
	}
	did, err := p.authorizeRepo(c, repoName)
	if err != nil {
		return err
	}
	res, err := p.ApplyWrites(c.Request().Context(), did, []Write{w}, swap)
	if errors.Is(err, ErrRecordNotFound) && !w.SwapRecord.Defined() {
		// Deleting what is not there is a success with no commit, as on
		// the reference PDS.
		return c.JSON(http.StatusOK, map[string]any{})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"commit": res.meta()})
}

// Union type names of applyWrites.
const (
	applyWritesNS = "com.atproto.repo.applyWrites"
)

func (p *PDS) applyWritesXRPC(c echo.Context) error {
	in, err := bindDataModel(c)
	if err != nil {
		return err
	}
	repoName, err := in.str("repo", true)
	if err != nil {
		return err
	}
	validate, err := in.validation()
	if err != nil {
		return err
	}
	swap, err := in.cidStr("swapCommit")
	if err != nil {
		return err
	}
	writes, err := parseWrites(in["writes"], validate)
	if err != nil {
		return err
	}
	did, err := p.authorizeRepo(c, repoName)
	if err != nil {
		return err
	}
	res, err := p.ApplyWrites(c.Request().Context(), did, writes, swap)
	if err != nil {
		return err
	}
	results := make([]map[string]any, len(writes))
	for i, w := range writes {
		r := res.Results[i]
		switch w.Action {
		case repo.Create, repo.Update:
			m := map[string]any{"$type": applyWritesNS + "#" + string(w.Action) + "Result", "uri": r.URI, "cid": r.CID.String()}
			if r.ValidationStatus != "" {
				m["validationStatus"] = r.ValidationStatus
			}
			results[i] = m
		default:
			results[i] = map[string]any{"$type": applyWritesNS + "#deleteResult"}
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"commit": res.meta(), "results": results})
}

// parseWrites reads applyWrites' writes union array.
func parseWrites(v any, validate Validation) ([]Write, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: input/writes must be an array", ErrInvalidRequest)
	}
	if len(arr) > MaxWrites {
		return nil, fmt.Errorf("%w: input/writes has %d writes, at most %d", ErrInvalidRequest, len(arr), MaxWrites)
	}
	writes := make([]Write, len(arr))
	for i, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: input/writes/%d must be an object", ErrInvalidRequest, i)
		}
		o := object(m)
		typ, _ := m["$type"].(string)
		action, ok := strings.CutPrefix(typ, applyWritesNS+"#")
		w := &writes[i]
		w.Action, w.Validate = repo.Action(action), validate
		if !ok || (w.Action != repo.Create && w.Action != repo.Update && w.Action != repo.Delete) {
			return nil, fmt.Errorf("%w: input/writes/%d/$type %q is not a write", ErrInvalidRequest, i, typ)
		}
		var err error
		if w.Collection, err = o.str("collection", true); err == nil {
			w.RKey, err = o.str("rkey", w.Action != repo.Create)
		}
		if err == nil && w.Action != repo.Delete {
			w.Value, err = o.record("value")
		}
		if err != nil {
			return nil, fmt.Errorf("writes/%d: %w", i, err)
		}
	}
	return writes, nil
}

func (p *PDS) getRecord(c echo.Context) error {
	did, err := p.ResolveRepo(c.QueryParam("repo"))
	if err != nil {
		return err
	}
	rec, err := p.GetRecord(did, c.QueryParam("collection"), c.QueryParam("rkey"))
	if err != nil {
		return err
	}
	if want := c.QueryParam("cid"); want != "" && want != rec.CID.String() {
		return fmt.Errorf("%w: %s is %s, not %s", ErrRecordNotFound, rec.URI, rec.CID, want)
	}
	value, err := recordJSON(rec.Value)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"uri": rec.URI, "cid": rec.CID.String(), "value": value})
}

func (p *PDS) listRecords(c echo.Context) error {
	did, err := p.ResolveRepo(c.QueryParam("repo"))
	if err != nil {
		return err
	}
	limit, err := parseLimit(c.QueryParam("limit"), 50, 100)
	if err != nil {
		return err
	}
	reverse, err := parseBool("reverse", c.QueryParam("reverse"))
	if err != nil {
		return err
	}
	recs, cursor, err := p.ListRecords(did, c.QueryParam("collection"), limit, c.QueryParam("cursor"), reverse)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		value, err := recordJSON(r.Value)
		if err != nil {
			return err
		}
		out[i] = map[string]any{"uri": r.URI, "cid": r.CID.String(), "value": value}
	}
	resp := map[string]any{"records": out}
	if cursor != "" {
		resp["cursor"] = cursor
	}
	return c.JSON(http.StatusOK, resp)
}

func (p *PDS) describeRepo(c echo.Context) error {
	did, err := p.ResolveRepo(c.QueryParam("repo"))
	if err != nil {
		return err
	}
	acct, err := p.account(did)
	if err != nil {
		return err
	}
	colls, err := p.Collections(did)
	if err != nil {
		return err
	}
	doc, err := p.accountDIDDoc(did)
	if err != nil {
		return err
	}
	if colls == nil {
		colls = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{
		"handle": acct.Handle, "did": did, "didDoc": doc, "collections": colls, "handleIsCorrect": true,
	})
}

func (p *PDS) uploadBlob(c echo.Context) error {
	who, err := p.authenticate(c, token.ScopeAccess)
	if err != nil {
		return err
	}
	did := who.did
	if who.admin {
		if did, err = p.ResolveRepo(c.QueryParam("repo")); err != nil {
			return fmt.Errorf("admin uploads name the repo in ?repo=: %w", err)
		}
	}
	data, err := io.ReadAll(io.LimitReader(c.Request().Body, p.cfg.MaxBlobSize+1))
	if err != nil {
		return fmt.Errorf("%w: read body: %w", ErrInvalidRequest, err)
	}
	ref, err := p.UploadBlob(c.Request().Context(), did, c.Request().Header.Get(echo.HeaderContentType), data)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"blob": map[string]any{
		"$type": "blob", "ref": map[string]string{"$link": ref.CID.String()}, "mimeType": ref.MimeType, "size": ref.Size,
	}})
}
