package consumer

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is the XRPC path of the repository event stream.
const Endpoint = "/xrpc/com.atproto.sync.subscribeRepos"

// ErrBadURL: the stream URL cannot be used.
var ErrBadURL = errors.New("consumer: bad stream URL")

// NormalizeURL turns what an operator types into the stream's WebSocket URL:
//   - http becomes ws and https becomes wss; a URL without a scheme is wss
//     (the spec's choice for the public internet);
//   - a path that does not already end in Endpoint gets it appended (so a
//     host, a host with a path prefix behind a proxy, or a ".../xrpc" base
//     all work);
//   - a fragment is dropped; other query parameters are kept.
//
// Credentials in the URL and a cursor parameter are refused: credentials
// would end up in logs and metrics, and the cursor is the consumer's to set
// (Config.Cursor). The result is a fixed point: normalizing it again
// returns it unchanged.
func NormalizeURL(raw string) (string, error) {
	u, err := normalize(raw)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func normalize(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadURL)
	}
	if !strings.Contains(s, "://") {
		s = "wss://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "ws"
	case "wss", "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("%w: scheme %q (want ws, wss, http or https)", ErrBadURL, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("%w: no host in %q", ErrBadURL, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: credentials in the URL are not supported (use Config.Header)", ErrBadURL)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %w", ErrBadURL, err)
	}
	if q.Has("cursor") {
		return nil, fmt.Errorf("%w: cursor parameter in the URL (set Config.Cursor)", ErrBadURL)
	}
	u.RawQuery = q.Encode()
	u.ForceQuery = false
	u.Fragment, u.RawFragment = "", ""

	p := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(p, Endpoint):
	case strings.HasSuffix(p, "/xrpc"):
		p += strings.TrimPrefix(Endpoint, "/xrpc")
	default:
		p += Endpoint
	}
	// Re-derive the escaped form from the decoded path, so that the result
	// is canonical and a second pass leaves it alone.
	u.Path, u.RawPath = p, ""
	return u, nil
}

// withCursor returns base with the cursor parameter for a dial: none for
// NoCursor (live tail).
func withCursor(base *url.URL, cursor int64) string {
	if cursor == NoCursor {
		return base.String()
	}
	u := *base
	q := u.Query()
	q.Set("cursor", strconv.FormatInt(cursor, 10))
	u.RawQuery = q.Encode()
	return u.String()
}

// hostOf is the URL's host for logs: never the query, never credentials.
func hostOf(u *url.URL) string { return u.Host }
