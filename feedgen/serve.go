package feedgen

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

// Limits of getFeedSkeleton's limit parameter (lexicon).
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// Sentinel errors of the XRPC surface.
var (
	ErrUnknownFeed    = errors.New("unknown feed")
	ErrInvalidRequest = errors.New("invalid request")
	ErrAuth           = errors.New("authentication failed")
)

// xrpcErrors is the one table from sentinels to XRPC names and statuses.
var xrpcErrors = []struct {
	err    error
	status int
	name   string
}{
	{ErrUnknownFeed, http.StatusBadRequest, "UnknownFeed"},
	{ErrInvalidRequest, http.StatusBadRequest, "InvalidRequest"},
	{ErrAuth, http.StatusUnauthorized, "AuthenticationRequired"},
}

type xrpcBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (g *Generator) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := http.StatusInternalServerError, xrpcBody{"InternalServerError", "internal error"}
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status, body = he.Code, xrpcBody{http.StatusText(he.Code), http.StatusText(he.Code)}
		if he.Code == http.StatusNotFound {
			body.Error = "MethodNotImplemented"
		}
	default:
		found := false
		for _, e := range xrpcErrors {
			if errors.Is(err, e.err) {
				status, body, found = e.status, xrpcBody{e.name, err.Error()}, true
				break
			}
		}
		if !found {
			g.log.Error("xrpc internal error", "method", c.Path(), "err", err)
		}
	}
	_ = c.JSON(status, body)
}

// Handler serves getFeedSkeleton, describeFeedGenerator and
// /.well-known/did.json.
func (g *Generator) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = g.errorHandler
	e.GET("/xrpc/app.bsky.feed.getFeedSkeleton", g.getFeedSkeleton)
	e.GET("/xrpc/app.bsky.feed.describeFeedGenerator", g.describe)
	e.GET("/.well-known/did.json", g.didDoc)
	return e
}

type skeletonItem struct {
	Post string `json:"post"`
}

type skeletonOut struct {
	Feed   []skeletonItem `json:"feed"`
	Cursor string         `json:"cursor,omitempty"`
}

// pageBufs recycles response buffers: a page is assembled into one and
// written with a single Write.
var pageBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// maxPooledPage keeps an unusually large page's buffer out of the pool.
const maxPooledPage = 1 << 20

// jsonContentType is shared by every response (net/http never modifies a
// header value slice).
var jsonContentType = []string{echo.MIMEApplicationJSON}

func (g *Generator) getFeedSkeleton(c echo.Context) error {
	if err := g.authenticate(c); err != nil {
		return err
	}
	q, err := parseSkeletonQuery(c.Request().URL.RawQuery)
	if err != nil {
		return err
	}
	name, err := g.feedName(q.feed)
	g.cfg.Metrics.request(name)
	if err != nil {
		return err
	}
	limit := DefaultLimit
	if q.limit != "" {
		n, err := strconv.Atoi(q.limit)
		if err != nil || n < 1 || n > MaxLimit {
			return wrapf(ErrInvalidRequest, "limit must be an integer in 1..%d", MaxLimit)
		}
		limit = n
	}
	s := g.state[name]
	req := pageRequest{cursor: q.cursor, limit: limit, requester: Requester(c)}
	bp := pageBufs.Get().(*[]byte)
	out := append((*bp)[:0], `{"feed":[`...)
	if s.ranked {
		out, err = g.rankedPage(out, s, req)
	} else {
		out, err = g.newestPage(out, s, req)
	}
	if err == nil {
		out = append(out, '}')
		h := c.Response().Header()
		h[echo.HeaderContentType] = jsonContentType
		h[echo.HeaderContentLength] = []string{strconv.Itoa(len(out))}
		c.Response().WriteHeader(http.StatusOK)
		_, _ = c.Response().Write(out) // a failed write is a client gone
	}
	if cap(out) <= maxPooledPage {
		*bp = out[:0]
		pageBufs.Put(bp)
	}
	return err
}

// skeletonQuery holds the raw parameters of getFeedSkeleton.
type skeletonQuery struct{ feed, limit, cursor string }

// parseSkeletonQuery reads the three parameters without building a
// url.Values map; as with url.Values.Get, the first value of a name wins.
func parseSkeletonQuery(raw string) (skeletonQuery, error) {
	var q skeletonQuery
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		var dst *string
		switch k {
		case "feed":
			dst = &q.feed
		case "limit":
			dst = &q.limit
		case "cursor":
			dst = &q.cursor
		default:
			continue
		}
		if *dst != "" {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			u, err := url.QueryUnescape(v)
			if err != nil {
				return q, wrapf(ErrInvalidRequest, "malformed query parameter %s", k)
			}
			v = u
		}
		*dst = v
	}
	return q, nil
}

// pageRequest is what a page depends on besides the feed.
type pageRequest struct {
	cursor    string
	limit     int
	requester string
}

// newestPage appends the items and cursor of a newest-first feed's page
// to out, from the in-memory head when the page lies within it, else from
// a Pebble snapshot.
func (g *Generator) newestPage(out []byte, s *feedState, req pageRequest) ([]byte, error) {
	var after *index.Item
	if req.cursor != "" {
		it, err := decodeCursor(req.cursor)
		if err != nil {
			return out, err
		}
		after = &it
	}
	h, err := g.headView(s)
	if err != nil {
		return out, err
	}
	start := 0
	if after != nil {
		// The first item strictly after the cursor in serving order.
		start, _ = slices.BinarySearchFunc(h.items, *after, func(v viewItem, a index.Item) int {
			return -cmp.Or(cmp.Compare(v.ts, a.IndexedAt), cmp.Compare(v.uri, a.URI))
		})
		if start < len(h.items) && h.items[start].ts == after.IndexedAt && h.items[start].uri == after.URI {
			start++
		}
	}
	mark := len(out)
	accept := g.pageAccept(s, req.requester, nil)
	out, last, more, ok := assemble(out, h, start, req.limit, accept)
	if ok {
		if !more {
			return append(out, ']'), nil
		}
		it := h.items[last]
		return appendCursor(out, index.Item{IndexedAt: it.ts, URI: it.uri}), nil
	}
	return g.pebblePage(out[:mark], s, after, req)
}

// pebblePage serves a page of a newest-first feed beyond its head.
func (g *Generator) pebblePage(out []byte, s *feedState, after *index.Item, req pageRequest) ([]byte, error) {
	snap := g.cfg.DB.NewSnapshot()
	defer snap.Close()
	var readErr error
	var likes func(string) bool
	if s.minLikes > 0 {
		likes = func(uri string) bool {
			n, err := index.Likes(snap, s.name, uri)
			if err != nil && readErr == nil {
				readErr = err
			}
			return n >= s.minLikes
		}
	}
	accept := g.pageAccept(s, req.requester, likes)
	var filter func(index.Item) bool
	if accept != nil {
		filter = func(it index.Item) bool { return accept(it.URI, it.IndexedAt) }
	}
	items, more, err := index.PageFiltered(snap, s.name, after, req.limit, filter)
	if err == nil {
		err = readErr
	}
	if err != nil {
		return out, err
	}
	for i, it := range items {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendItem(out, it.URI)
	}
	if !more {
		return append(out, ']'), nil
	}
	return appendCursor(out, items[len(items)-1]), nil
}

// rankedPage appends a page of a ranked feed: from the ranking the cursor
// was issued from while it is kept, so pages neither repeat nor skip
// while scores move; else from the current ranking, after the cursor's
// position (score, time, URI) in it.
func (g *Generator) rankedPage(out []byte, s *feedState, req pageRequest) ([]byte, error) {
	rk, err := g.rankView(s)
	if err != nil {
		return out, err
	}
	v, start := rk.cur, 0
	if req.cursor != "" {
		rc, err := decodeRankCursor(req.cursor)
		if err != nil {
			return out, err
		}
		v, start = rk.locate(rc)
	}
	out, last, more, _ := assemble(out, v, start, req.limit, g.pageAccept(s, req.requester, nil))
	if !more {
		return append(out, ']'), nil
	}
	return appendRankCursor(out, v.cursorAfter(last)), nil
}

// assemble appends the items of v from index start that accept keeps (nil:
// all), up to limit. last is the index of the last one appended; more
// reports whether any item follows it. ok is false when the page runs past
// the end of a partial view: the caller must serve it from the index.
func assemble(out []byte, v *view, start, limit int, accept func(uri string, ts int64) bool) (_ []byte, last int, more, ok bool) {
	if accept == nil {
		end := start + limit
		if end >= len(v.items) {
			if !v.complete {
				return out, 0, false, false
			}
			end = len(v.items)
		}
		if end > start {
			out = append(out, v.body[v.items[start].start:v.items[end-1].end]...)
		}
		return out, end - 1, end < len(v.items), true
	}
	n := 0
	for i := start; i < len(v.items); i++ {
		if n == limit {
			return out, last, true, true
		}
		it := &v.items[i]
		if !accept(it.uri, it.ts) {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, v.body[it.start:it.end]...)
		n, last = n+1, i
	}
	return out, last, false, v.complete
}

// pageAccept composes the per-page filters of a feed for one request
// (nil: none): likes (the Pebble path's min-likes check; the in-memory
// views hold only posts that pass it), the feed's personalisation, then
// the author cap, which counts only posts that passed the others.
func (g *Generator) pageAccept(s *feedState, requester string, likes func(string) bool) func(uri string, ts int64) bool {
	var filters []func(string, int64) bool
	if likes != nil {
		filters = append(filters, func(uri string, _ int64) bool { return likes(uri) })
	}
	if s.personal != nil {
		if f := s.personal.ForRequester(requester); f != nil {
			filters = append(filters, func(uri string, ts int64) bool {
				return f(plugin.Item{URI: uri, Author: authorOf(uri), IndexedAt: time.UnixMicro(ts)})
			})
		}
	}
	if s.authorCap > 0 {
		filters = append(filters, authorCap(s.authorCap))
	}
	switch len(filters) {
	case 0:
		return nil
	case 1:
		return filters[0]
	}
	return func(uri string, ts int64) bool {
		for _, fl := range filters {
			if !fl(uri, ts) {
				return false
			}
		}
		return true
	}
}

// authorOf is the DID of a post's AT-URI.
func authorOf(uri string) string {
	did, _, _ := strings.Cut(strings.TrimPrefix(uri, "at://"), "/")
	return did
}

// authorCap accepts at most n items per author (the URI's authority) on
// one page.
func authorCap(n int) func(string, int64) bool {
	seen := map[string]int{}
	return func(uri string, _ int64) bool {
		did := authorOf(uri)
		seen[did]++
		return seen[did] <= n
	}
}

// feedName maps a feed AT-URI to a registered feed name.
func (g *Generator) feedName(uri string) (string, error) {
	if uri == "" {
		return "", wrapf(ErrInvalidRequest, "feed is required")
	}
	prefix := g.FeedURI("")
	name, ok := strings.CutPrefix(uri, prefix)
	if !ok {
		return "", wrapf(ErrUnknownFeed, "no feed %q here", uri)
	}
	if _, ok := g.cfg.Feeds.Get(name); !ok {
		return "", wrapf(ErrUnknownFeed, "no feed %q here", uri)
	}
	return name, nil
}

// appendItem appends {"post":"uri"} with uri as a JSON string.
func appendItem(out []byte, uri string) []byte {
	out = append(out, `{"post":`...)
	return append(appendJSONString(out, uri), '}')
}

// appendJSONString appends s as a JSON string. AT-URIs are printable
// ASCII; anything else goes through encoding/json.
func appendJSONString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(out, q...)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
}

type describeOut struct {
	DID   string         `json:"did"`
	Feeds []describeFeed `json:"feeds"`
}

type describeFeed struct {
	URI string `json:"uri"`
}

func (g *Generator) describe(c echo.Context) error {
	out := describeOut{DID: g.cfg.ServiceDID, Feeds: make([]describeFeed, 0, len(g.feeds))}
	for _, f := range g.feeds {
		out.Feeds = append(out.Feeds, describeFeed{URI: g.FeedURI(f.Name())})
	}
	return c.JSON(http.StatusOK, out)
}

type didDoc struct {
	Context []string     `json:"@context"`
	ID      string       `json:"id"`
	Service []didService `json:"service"`
}

type didService struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	ServiceEndpoint string `json:"serviceEndpoint"`
}

func (g *Generator) didDoc(c echo.Context) error {
	if !strings.HasPrefix(g.cfg.ServiceDID, "did:web:") || g.cfg.Hostname == "" {
		return echo.ErrNotFound
	}
	return c.JSON(http.StatusOK, didDoc{
		Context: []string{"https://www.w3.org/ns/did/v1"},
		ID:      g.cfg.ServiceDID,
		Service: []didService{{ID: "#bsky_fg", Type: "BskyFeedGenerator", ServiceEndpoint: "https://" + g.cfg.Hostname}},
	})
}
