package consumer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// maxRedirects bounds the redirects followed by one dial. The spec
	// neither requires nor forbids redirects on WebSocket URLs; Bluesky
	// recommends following them so operators can pool relays.
	maxRedirects = 5
	// maxRetryAfter caps a server's Retry-After, so a bogus header cannot
	// park the consumer for days.
	maxRetryAfter = 10 * time.Minute
	// errorBodyMax is how much of a refused handshake's body goes into the
	// error (an XRPC {error, message} fits).
	errorBodyMax = 256
)

// dial opens the WebSocket for cursor, following redirects. On failure conn
// is nil and the result says whether to stop or when to retry.
func (c *Consumer) dial(ctx context.Context, cursor int64) (*websocket.Conn, result) {
	target := withCursor(c.base, cursor)
	for hops := 0; ; hops++ {
		dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		conn, resp, err := c.dialer.DialContext(dctx, target, c.header)
		cancel()
		if err == nil {
			c.countDial(true)
			return conn, result{}
		}
		if ctx.Err() != nil {
			return nil, result{} // stopping, not failing
		}
		if resp != nil && isRedirect(resp.StatusCode) && hops < maxRedirects {
			next, rerr := redirectTarget(target, resp.Header.Get("Location"), cursor)
			if rerr == nil {
				c.cfg.Logger.Info("following redirect", "host", hostOf(c.base), "status", resp.StatusCode, "to", redactQuery(next))
				target = next
				continue
			}
			err = rerr
		}
		c.countDial(false)
		return nil, c.dialFailed(resp, err)
	}
}

// dialFailed classifies a failed handshake by its HTTP status (spec:
// 501 means do not retry; 429 may carry Retry-After; 5xx and the rest are
// retried with backoff).
func (c *Consumer) dialFailed(resp *http.Response, err error) result {
	host := hostOf(c.base)
	if resp == nil {
		return result{err: fmt.Errorf("dial %s: %w", host, err)}
	}
	// gorilla has already buffered (at most 1 KB of) the body.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyMax))
	err = fmt.Errorf("dial %s: HTTP %d %q: %w", host, resp.StatusCode, strings.TrimSpace(string(body)), err)
	switch resp.StatusCode {
	case http.StatusNotImplemented:
		return result{stop: fmt.Errorf("%w: %w", ErrNotImplemented, err)}
	case http.StatusTooManyRequests:
		return result{err: err, retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	default:
		return result{err: err}
	}
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirectTarget resolves a Location against the URL we dialed, keeps it a
// WebSocket URL and carries our cursor over (a redirect must not move it).
func redirectTarget(from, location string, cursor int64) (string, error) {
	if location == "" {
		return "", fmt.Errorf("%w: redirect without Location", ErrBadURL)
	}
	base, err := url.Parse(from)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	ref, err := url.Parse(location)
	if err != nil {
		return "", fmt.Errorf("%w: redirect: %w", ErrBadURL, err)
	}
	u := base.ResolveReference(ref)
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "ws"
	case "wss", "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("%w: redirect to scheme %q", ErrBadURL, u.Scheme)
	}
	if u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%w: redirect to %q", ErrBadURL, location)
	}
	q := u.Query()
	q.Del("cursor")
	if cursor != NoCursor {
		q.Set("cursor", strconv.FormatInt(cursor, 10))
	}
	u.RawQuery = q.Encode()
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// retryAfter parses Retry-After (seconds or an HTTP date), capped.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(strings.TrimSpace(h), 10, 64); err == nil {
		if secs > 0 {
			d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
		}
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// redactQuery is a URL for logs: scheme, host and path only.
func redactQuery(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}
