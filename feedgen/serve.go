package feedgen

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"strings"

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

func (g *Generator) getFeedSkeleton(c echo.Context) error {
	if err := g.authenticate(c); err != nil {
		return err
	}
	name, err := g.feedName(c.QueryParam("feed"))
	g.cfg.Metrics.request(name)
	if err != nil {
		return err
	}
	limit := DefaultLimit
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return wrapf(ErrInvalidRequest, "limit must be an integer in 1..%d", MaxLimit)
		}
		limit = n
	}
	var after *index.Item
	if s := c.QueryParam("cursor"); s != "" {
		it, err := decodeCursor(s)
		if err != nil {
			return err
		}
		after = &it
	}
	snap := g.cfg.DB.NewSnapshot()
	defer snap.Close()
	accept, acceptErr := g.pageFilter(snap, name)
	items, more, err := index.PageFiltered(snap, name, after, limit, accept)
	if err == nil {
		err = *acceptErr
	}
	if err != nil {
		return err
	}
	out := skeletonOut{Feed: make([]skeletonItem, len(items))}
	for i, it := range items {
		out.Feed[i] = skeletonItem{Post: it.URI}
	}
	if more {
		out.Cursor = encodeCursor(items[len(items)-1])
	}
	return c.JSON(http.StatusOK, out)
}

// pageFilter composes the serve-time filters of a feed (nil: none). A read
// error inside the filter is reported through the returned pointer.
func (g *Generator) pageFilter(r index.Reader, name string) (func(index.Item) bool, *error) {
	var readErr error
	f, _ := g.cfg.Feeds.Get(name)
	var filters []func(index.Item) bool
	if m, ok := f.(plugin.MinLiker); ok && m.MinLikes() > 0 {
		least := int64(m.MinLikes())
		filters = append(filters, func(it index.Item) bool {
			n, err := index.Likes(r, name, it.URI)
			if err != nil && readErr == nil {
				readErr = err
			}
			return n >= least
		})
	}
	// The cap counts only posts that passed the other filters.
	if c, ok := f.(plugin.AuthorCapper); ok && c.AuthorCap() > 0 {
		filters = append(filters, authorCap(c.AuthorCap()))
	}
	if len(filters) == 0 {
		return nil, &readErr
	}
	return func(it index.Item) bool {
		for _, fl := range filters {
			if !fl(it) {
				return false
			}
		}
		return true
	}, &readErr
}

// authorCap accepts at most n items per author (the URI's authority) on
// one page.
func authorCap(n int) func(index.Item) bool {
	seen := map[string]int{}
	return func(it index.Item) bool {
		rest := strings.TrimPrefix(it.URI, "at://")
		did, _, _ := strings.Cut(rest, "/")
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

// encodeCursor makes the opaque cursor of an item: base64url of its
// big-endian indexed time and its URI.
func encodeCursor(it index.Item) string {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(it.URI)), uint64(it.IndexedAt))
	return base64.RawURLEncoding.EncodeToString(append(b, it.URI...))
}

func decodeCursor(s string) (index.Item, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 9 || !strings.HasPrefix(string(b[8:]), "at://") || strings.IndexByte(string(b[8:]), 0) >= 0 {
		return index.Item{}, wrapf(ErrInvalidRequest, "malformed cursor")
	}
	return index.Item{IndexedAt: int64(binary.BigEndian.Uint64(b)), URI: string(b[8:])}, nil
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
