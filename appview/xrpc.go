package appview

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/lexicon"
)

// XRPC error names this service answers with.
const (
	errInvalidRequest = "InvalidRequest"
	errNameNotFound   = "NotFound"
	errInternal       = "InternalServerError"
)

// xrpcError is an XRPC error answer: HTTP status plus {error, message}.
type xrpcError struct {
	Status  int    `json:"-"`
	Name    string `json:"error"`
	Message string `json:"message"`
}

func (e *xrpcError) Error() string { return e.Name + ": " + e.Message }

func badRequest(msg string) error { return &xrpcError{http.StatusBadRequest, errInvalidRequest, msg} }

// errorHandler writes every error in the XRPC JSON shape.
func errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	xe := &xrpcError{http.StatusInternalServerError, errInternal, "internal error"}
	var ve *lexicon.ValidationError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &xe):
	case errors.As(err, &ve):
		xe = &xrpcError{http.StatusBadRequest, ve.Name, ve.Error()}
	case errors.As(err, &he):
		name := "MethodNotImplemented"
		if he.Code != http.StatusNotFound {
			name = http.StatusText(he.Code)
		}
		xe = &xrpcError{he.Code, name, http.StatusText(he.Code)}
	}
	_ = c.JSON(xe.Status, xe)
}

// api serves the app.bsky reads from the index.
type api struct {
	db *pebble.DB
}

func (a *api) routes(e *echo.Echo) {
	e.HTTPErrorHandler = errorHandler
	for nsid, h := range map[string]func(echo.Context, views) (any, error){
		"app.bsky.actor.getProfile":   a.getProfile,
		"app.bsky.actor.getProfiles":  a.getProfiles,
		"app.bsky.feed.getAuthorFeed": a.getAuthorFeed,
		"app.bsky.feed.getPosts":      a.getPosts,
		"app.bsky.feed.getPostThread": a.getPostThread,
		"app.bsky.feed.getLikes":      a.getLikes,
		"app.bsky.feed.getRepostedBy": a.getRepostedBy,
		"app.bsky.graph.getFollowers": a.getFollowers,
		"app.bsky.graph.getFollows":   a.getFollows,
	} {
		e.GET("/xrpc/"+nsid, a.wrap(nsid, h))
	}
	e.GET("/xrpc/_health", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"version": "conflux-appview"})
	})
}

// wrap validates the query parameters against the lexicon (required
// fields, types, limit and depth bounds) and runs h on a snapshot, so that
// one response never mixes two index states.
func (a *api) wrap(nsid string, h func(echo.Context, views) (any, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := lexicon.Default().ValidateParams(nsid, c.QueryParams()); err != nil {
			return err
		}
		snap := a.db.NewSnapshot()
		defer snap.Close()
		out, err := h(c, newViews(snap))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
}

// resolveActor turns a DID or handle into a DID.
func (v views) resolveActor(s string) (string, error) {
	if strings.HasPrefix(s, "did:") {
		return s, nil
	}
	did, ok, err := index.ResolveHandle(v.r, s)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", badRequest("Profile not found")
	}
	return did, nil
}

func intParam(c echo.Context, name string, def int) int {
	n, err := strconv.Atoi(c.QueryParam(name))
	if err != nil {
		return def
	}
	return n
}

func (a *api) getProfile(c echo.Context, v views) (any, error) {
	did, err := v.resolveActor(c.QueryParam("actor"))
	if err != nil {
		return nil, err
	}
	return v.knownProfile(did)
}

// knownProfile is the detailed profile of an actor the index has seen.
func (v views) knownProfile(did string) (any, error) {
	p, err := v.profileDetailed(did)
	if errors.Is(err, errNotFound) {
		return nil, badRequest("Account is not available")
	}
	if err != nil {
		return nil, err
	}
	_, stored, err := index.GetRecord(v.r, profileURI(did))
	if err != nil {
		return nil, err
	}
	if !stored && p.Handle == invalidHandle && p.PostsCount == 0 && p.FollowsCount == 0 && p.FollowersCount == 0 {
		return nil, badRequest("Profile not found")
	}
	return p, nil
}

func (a *api) getProfiles(c echo.Context, v views) (any, error) {
	actors := c.QueryParams()["actors"]
	if len(actors) > 25 {
		return nil, badRequest("at most 25 actors")
	}
	profiles := []any{}
	for _, s := range actors {
		did, err := v.resolveActor(s)
		if err != nil {
			continue
		}
		p, err := v.knownProfile(did)
		var xe *xrpcError
		if errors.As(err, &xe) {
			continue
		}
		if err != nil {
			return nil, err
		}
		profiles = append(profiles, p)
	}
	return map[string]any{"profiles": profiles}, nil
}

func (a *api) getPosts(c echo.Context, v views) (any, error) {
	uris := c.QueryParams()["uris"]
	if len(uris) > 25 {
		return nil, badRequest("at most 25 uris")
	}
	posts := []postView{}
	for _, u := range uris {
		pv, _, err := v.post(u)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		posts = append(posts, pv)
	}
	return map[string]any{"posts": posts}, nil
}
