package pds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// maxJSONBody bounds a procedure's JSON input: room for a record a little
// over MaxRecordSize (so that it is refused by name, InvalidRecord) and for
// applyWrites batches of ordinary records.
const maxJSONBody = 8 << 20

// xrpcError is an error with its XRPC name and HTTP status.
type xrpcError struct {
	status int
	name   string
	msg    string
}

func (e *xrpcError) Error() string { return e.name + ": " + e.msg }

func newXRPCError(status int, name, format string, args ...any) error {
	return &xrpcError{status: status, name: name, msg: fmt.Sprintf(format, args...)}
}

// xrpcErrors is the one table from the PDS's sentinel errors to XRPC error
// names and statuses. Statuses follow the reference PDS (which answers 400
// for missing repos and records, and for bad or expired tokens).
var xrpcErrors = []struct {
	err    error
	status int
	name   string
}{
	{ErrInvalidRecord, http.StatusBadRequest, "InvalidRecord"},
	{ErrInvalidRequest, http.StatusBadRequest, "InvalidRequest"},
	{ErrRepoNotFound, http.StatusBadRequest, "RepoNotFound"},
	{ErrRecordNotFound, http.StatusBadRequest, "RecordNotFound"},
	{ErrBlobNotFound, http.StatusBadRequest, "BlobNotFound"},
	{ErrInvalidSwap, http.StatusBadRequest, "InvalidSwap"},
	{ErrRepoDeactivated, http.StatusBadRequest, "RepoDeactivated"},
	{ErrRepoTakendown, http.StatusBadRequest, "RepoTakendown"},
	{ErrInvalidHandle, http.StatusBadRequest, "InvalidHandle"},
	{ErrHandleTaken, http.StatusBadRequest, "HandleNotAvailable"},
	{ErrInvalidPassword, http.StatusBadRequest, "InvalidPassword"},
	{ErrAuthFailed, http.StatusUnauthorized, "AuthenticationRequired"},
	{ErrBlobTooLarge, http.StatusRequestEntityTooLarge, "PayloadTooLarge"},
	{ErrPLC, http.StatusBadGateway, "UpstreamFailure"},
	{ErrNotRunning, http.StatusServiceUnavailable, "NotEnoughResources"},
	{ErrClosed, http.StatusServiceUnavailable, "NotEnoughResources"},
}

// errorHandler is echo's single error handler: every failure leaves as
// {"error", "message"}. Internal errors are logged and answered without
// their detail.
func (p *PDS) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, name, msg := p.classify(err)
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusNotImplemented {
		p.log.Error("xrpc internal error", "method", c.Path(), "err", err)
	}
	_ = c.JSON(status, map[string]string{"error": name, "message": msg})
}

func (p *PDS) classify(err error) (int, string, string) {
	var xe *xrpcError
	if errors.As(err, &xe) {
		return xe.status, xe.name, xe.msg
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := fmt.Sprint(he.Message)
		switch he.Code {
		case http.StatusNotFound:
			return http.StatusNotImplemented, "MethodNotImplemented", "method not implemented"
		case http.StatusMethodNotAllowed:
			return he.Code, "InvalidRequest", "wrong HTTP method for this XRPC method"
		case http.StatusRequestEntityTooLarge:
			return he.Code, "PayloadTooLarge", msg
		}
		if he.Code < 500 {
			return he.Code, "InvalidRequest", msg
		}
		return http.StatusInternalServerError, "InternalServerError", "internal error"
	}
	for _, e := range xrpcErrors {
		if errors.Is(err, e.err) {
			return e.status, e.name, err.Error()
		}
	}
	return http.StatusInternalServerError, "InternalServerError", "internal error"
}

// newRouter builds the XRPC routes.
func (p *PDS) newRouter() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = p.errorHandler
	e.Use(p.countRequests)

	e.GET("/xrpc/_health", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"version": "conflux-pds"})
	})
	e.GET("/.well-known/atproto-did", p.wellKnownDID)
	e.GET("/.well-known/did.json", p.wellKnownDIDDoc)

	x := func(method string) string { return "/xrpc/" + method }
	e.GET(x("com.atproto.server.describeServer"), p.describeServer)
	e.POST(x("com.atproto.server.createAccount"), p.createAccount)
	e.POST(x("com.atproto.server.createSession"), p.createSession)
	e.POST(x("com.atproto.server.refreshSession"), p.refreshSession)
	e.GET(x("com.atproto.server.getSession"), p.getSession)
	e.POST(x("com.atproto.server.deleteSession"), p.deleteSession)
	e.POST(x("com.atproto.server.deactivateAccount"), p.deactivateAccount)
	e.POST(x("com.atproto.server.activateAccount"), p.activateAccount)
	e.POST(x("com.atproto.server.deleteAccount"), p.deleteAccount)
	e.GET(x("com.atproto.identity.resolveHandle"), p.resolveHandle)

	e.POST(x("com.atproto.repo.createRecord"), p.createRecord)
	e.POST(x("com.atproto.repo.putRecord"), p.putRecord)
	e.POST(x("com.atproto.repo.deleteRecord"), p.deleteRecord)
	e.POST(x("com.atproto.repo.applyWrites"), p.applyWritesXRPC)
	e.GET(x("com.atproto.repo.getRecord"), p.getRecord)
	e.GET(x("com.atproto.repo.listRecords"), p.listRecords)
	e.GET(x("com.atproto.repo.describeRepo"), p.describeRepo)
	e.POST(x("com.atproto.repo.uploadBlob"), p.uploadBlob)

	e.GET(x("com.atproto.sync.subscribeRepos"), echo.WrapHandler(p.sub))
	e.GET(x("com.atproto.sync.getRepo"), p.syncGetRepo)
	e.GET(x("com.atproto.sync.getLatestCommit"), p.syncGetLatestCommit)
	e.GET(x("com.atproto.sync.getRepoStatus"), p.syncGetRepoStatus)
	e.GET(x("com.atproto.sync.listRepos"), p.syncListRepos)
	e.GET(x("com.atproto.sync.getRecord"), p.syncGetRecord)
	e.GET(x("com.atproto.sync.getBlob"), p.syncGetBlob)
	e.GET(x("com.atproto.sync.getBlocks"), p.syncGetBlocks)
	return e
}

// countRequests counts requests by route (a bounded label: the registered
// paths, or "unknown") and status.
func (p *PDS) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		status := c.Response().Status
		if err != nil {
			status, _, _ = p.classify(err)
		}
		route := c.Path()
		if !strings.HasPrefix(route, "/xrpc/") && !strings.HasPrefix(route, "/.well-known/") {
			route = "unknown"
		}
		p.metrics.xrpc.WithLabelValues(strings.TrimPrefix(route, "/xrpc/"), strconv.Itoa(status)).Inc()
		return err
	}
}

// readBody reads the request body, refusing more than limit bytes.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %w", ErrInvalidRequest, err)
	}
	if int64(len(b)) > limit {
		return nil, newXRPCError(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request body over %d bytes", limit)
	}
	return b, nil
}

// bindJSON decodes a JSON input body into v (a struct of plain fields).
func bindJSON(c echo.Context, v any) error {
	b, err := readBody(c, maxJSONBody)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: input: %w", ErrInvalidRequest, err)
	}
	return nil
}

// bindDataModel decodes a JSON input body in the atproto data model
// ($link, $bytes, integers only), for inputs that carry records.
func bindDataModel(c echo.Context) (object, error) {
	b, err := readBody(c, maxJSONBody)
	if err != nil {
		return nil, err
	}
	m, err := dagcbor.ObjectFromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%w: input: %w", ErrInvalidRequest, err)
	}
	return m, nil
}

// recordJSON renders a record value in the JSON form of the data model.
func recordJSON(v map[string]any) (json.RawMessage, error) {
	b, err := dagcbor.ToJSON(v)
	if err != nil {
		return nil, fmt.Errorf("%w: render record: %w", ErrCorrupt, err)
	}
	return b, nil
}
