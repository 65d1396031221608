package appview

import (
	"errors"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/appview/internal/index"
)

type likeView struct {
	Actor     profileView `json:"actor"`
	CreatedAt string      `json:"createdAt"`
	IndexedAt string      `json:"indexedAt"`
}

// edgePage lists one page of edge records of subject, calling fn for
// each whose author is visible. The cursor is the last edge record's URI.
func (v views) edgePage(c echo.Context, kind index.EdgeKind, subject string, fn func(recURI, author string) error) (string, error) {
	uris, next, err := index.Edges(v.r, kind, subject, c.QueryParam("cursor"), intParam(c, "limit", 50))
	if err != nil {
		return "", err
	}
	for _, u := range uris {
		author, _, _ := splitAuthor(u)
		if _, err := v.actor(author); errors.Is(err, errNotFound) {
			continue
		} else if err != nil {
			return "", err
		}
		if err := fn(u, author); err != nil {
			return "", err
		}
	}
	return next, nil
}

func withCursor(out map[string]any, cursor string) map[string]any {
	if cursor != "" {
		out["cursor"] = cursor
	}
	return out
}

func (a *api) getLikes(c echo.Context, v views) (any, error) {
	uri := c.QueryParam("uri")
	likes := []likeView{}
	next, err := v.edgePage(c, index.EdgeLikes, uri, func(recURI, author string) error {
		rec, ok, err := index.GetRecord(v.r, recURI)
		if err != nil || !ok {
			return err
		}
		pv, err := v.profile(author)
		if err != nil {
			return err
		}
		likes = append(likes, likeView{pv, rec.CreatedAt, indexedAt(rec.CreatedAt)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return withCursor(map[string]any{"uri": uri, "likes": likes}, next), nil
}

func (a *api) getRepostedBy(c echo.Context, v views) (any, error) {
	uri := c.QueryParam("uri")
	by := []profileView{}
	next, err := v.edgePage(c, index.EdgeReposts, uri, func(_, author string) error {
		pv, err := v.profile(author)
		by = append(by, pv)
		return err
	})
	if err != nil {
		return nil, err
	}
	return withCursor(map[string]any{"uri": uri, "repostedBy": by}, next), nil
}

// subject resolves the actor parameter to a visible actor's profile view.
func (v views) subject(c echo.Context) (string, profileView, error) {
	did, err := v.resolveActor(c.QueryParam("actor"))
	if err != nil {
		return "", profileView{}, err
	}
	pv, err := v.profile(did)
	if errors.Is(err, errNotFound) {
		return "", pv, badRequest("Account is not available")
	}
	return did, pv, err
}

func (a *api) getFollowers(c echo.Context, v views) (any, error) {
	did, subj, err := v.subject(c)
	if err != nil {
		return nil, err
	}
	followers := []profileView{}
	next, err := v.edgePage(c, index.EdgeFollowers, did, func(_, author string) error {
		pv, err := v.profile(author)
		followers = append(followers, pv)
		return err
	})
	if err != nil {
		return nil, err
	}
	return withCursor(map[string]any{"subject": subj, "followers": followers}, next), nil
}

func (a *api) getFollows(c echo.Context, v views) (any, error) {
	did, subj, err := v.subject(c)
	if err != nil {
		return nil, err
	}
	subjects, _, next, err := index.Follows(v.r, did, c.QueryParam("cursor"), intParam(c, "limit", 50))
	if err != nil {
		return nil, err
	}
	follows := []profileView{}
	for _, s := range subjects {
		pv, err := v.profile(s)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		follows = append(follows, pv)
	}
	return withCursor(map[string]any{"subject": subj, "follows": follows}, next), nil
}
