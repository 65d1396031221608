package appview

import (
	"errors"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/lexicon"
)

// Union member $types of app.bsky.feed.defs.
const (
	typePostView       = "app.bsky.feed.defs#postView"
	typeNotFoundPost   = "app.bsky.feed.defs#notFoundPost"
	typeReasonRepost   = "app.bsky.feed.defs#reasonRepost"
	typeThreadViewPost = "app.bsky.feed.defs#threadViewPost"
)

// maxThreadNodes bounds the work of one getPostThread, whatever depth asks.
const maxThreadNodes = 2000

type typedPost struct {
	Type string `json:"$type"`
	postView
}

type notFoundPost struct {
	Type     string `json:"$type"`
	URI      string `json:"uri"`
	NotFound bool   `json:"notFound"`
}

type reasonRepost struct {
	Type      string       `json:"$type"`
	By        profileBasic `json:"by"`
	URI       string       `json:"uri"`
	CID       string       `json:"cid"`
	IndexedAt string       `json:"indexedAt"`
}

type feedViewPost struct {
	Post   postView      `json:"post"`
	Reply  *replyRef     `json:"reply,omitempty"`
	Reason *reasonRepost `json:"reason,omitempty"`
}

type replyRef struct {
	Root   any `json:"root"`
	Parent any `json:"parent"`
}

// postOrNotFound is a union member for a reply's root or parent.
func (v views) postOrNotFound(uri string) (any, error) {
	pv, _, err := v.post(uri)
	if errors.Is(err, errNotFound) {
		return notFoundPost{typeNotFoundPost, uri, true}, nil
	}
	if err != nil {
		return nil, err
	}
	return typedPost{typePostView, pv}, nil
}

func (a *api) getAuthorFeed(c echo.Context, v views) (any, error) {
	did, err := v.resolveActor(c.QueryParam("actor"))
	if err != nil {
		return nil, err
	}
	if _, err := v.actor(did); err != nil {
		if errors.Is(err, errNotFound) {
			return nil, badRequest("Account is not available")
		}
		return nil, err
	}
	limit := intParam(c, "limit", 50)
	filter := c.QueryParam("filter")
	feed := []feedViewPost{}
	cursor := ""
	var ferr error
	err = index.AuthorFeed(v.r, did, c.QueryParam("cursor"), func(it index.FeedItem) bool {
		item, ok, err := v.feedItem(did, it, filter)
		if err != nil {
			ferr = err
			return false
		}
		if ok {
			feed = append(feed, item)
			cursor = it.RKey
		}
		return len(feed) < limit
	})
	if ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	out := map[string]any{"feed": feed}
	if len(feed) == limit {
		out["cursor"] = cursor
	}
	return out, nil
}

// feedItem builds one author-feed entry; ok is false when the item is
// filtered out or its subject is gone or hidden.
func (v views) feedItem(did string, it index.FeedItem, filter string) (feedViewPost, bool, error) {
	var fv feedViewPost
	postURI := it.URI
	if it.Collection == lexicon.NSIDFeedRepost {
		// As the reference AppView: the media filters show only the
		// actor's own posts; every other filter keeps reposts.
		if filter == "posts_with_media" || filter == "posts_with_video" {
			return fv, false, nil
		}
		rec, ok, err := index.GetRecord(v.r, it.URI)
		if err != nil || !ok {
			return fv, false, err
		}
		by, err := v.basic(did)
		if err != nil {
			return fv, false, err
		}
		fv.Reason = &reasonRepost{typeReasonRepost, by, it.URI, rec.CID.String(), indexedAt(rec.CreatedAt)}
		postURI = rec.Subject
	}
	pv, p, err := v.post(postURI)
	if errors.Is(err, errNotFound) {
		return fv, false, nil
	}
	if err != nil {
		return fv, false, err
	}
	// A reply stays under posts_and_author_threads only in the actor's
	// own thread (its root and parent are the actor's), as the reference
	// AppView's self-thread rule; reposts stay whatever they repost.
	ownThread := p.Reply != nil && strings.HasPrefix(p.Reply.Root, "at://"+did+"/") && strings.HasPrefix(p.Reply.Parent, "at://"+did+"/")
	switch {
	case fv.Reason != nil: // a repost that got this far is kept
	case filter == "posts_no_replies" && p.Reply != nil,
		filter == "posts_and_author_threads" && p.Reply != nil && !ownThread,
		filter == "posts_with_media" && (!p.Media || p.Video), // images only, as the reference AppView
		filter == "posts_with_video" && !p.Video:
		return fv, false, nil
	}
	fv.Post = pv
	if p.Reply != nil {
		root, err := v.postOrNotFound(p.Reply.Root)
		if err != nil {
			return fv, false, err
		}
		parent, err := v.postOrNotFound(p.Reply.Parent)
		if err != nil {
			return fv, false, err
		}
		fv.Reply = &replyRef{Root: root, Parent: parent}
	}
	return fv, true, nil
}

type threadViewPost struct {
	Type    string   `json:"$type"`
	Post    postView `json:"post"`
	Parent  any      `json:"parent,omitempty"`
	Replies []any    `json:"replies,omitzero"`
}

func (a *api) getPostThread(c echo.Context, v views) (any, error) {
	uri := c.QueryParam("uri")
	depth := intParam(c, "depth", 6)
	height := intParam(c, "parentHeight", 80)
	pv, p, err := v.post(uri)
	if errors.Is(err, errNotFound) {
		return nil, &xrpcError{400, errNameNotFound, "Post not found: " + uri}
	}
	if err != nil {
		return nil, err
	}
	budget := maxThreadNodes
	root := &threadViewPost{Type: typeThreadViewPost, Post: pv}
	if root.Replies, err = v.replies(uri, depth, &budget); err != nil {
		return nil, err
	}
	// Walk up the parents; each becomes the parent of the one below.
	child := root
	for range height {
		if p.Reply == nil {
			break
		}
		parentURI := p.Reply.Parent
		ppv, pp, err := v.post(parentURI)
		if errors.Is(err, errNotFound) {
			child.Parent = notFoundPost{typeNotFoundPost, parentURI, true}
			break
		}
		if err != nil {
			return nil, err
		}
		node := &threadViewPost{Type: typeThreadViewPost, Post: ppv}
		child.Parent = node
		child, p = node, pp
	}
	return map[string]any{"thread": root}, nil
}

// replies returns the reply subtree of uri down to depth levels.
func (v views) replies(uri string, depth int, budget *int) ([]any, error) {
	if depth <= 0 || *budget <= 0 {
		return nil, nil
	}
	uris, _, err := index.Edges(v.r, index.EdgeReplies, uri, "", *budget)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, u := range uris {
		if *budget <= 0 {
			break
		}
		pv, _, err := v.post(u)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		*budget--
		node := &threadViewPost{Type: typeThreadViewPost, Post: pv}
		if node.Replies, err = v.replies(u, depth-1, budget); err != nil {
			return nil, err
		}
		out = append(out, node)
	}
	return out, nil
}
