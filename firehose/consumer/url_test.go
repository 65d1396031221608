package consumer

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	const ep = Endpoint
	for _, tc := range []struct{ in, want string }{
		{"wss://bsky.network", "wss://bsky.network" + ep},
		{"wss://bsky.network/", "wss://bsky.network" + ep},
		{"bsky.network", "wss://bsky.network" + ep},
		{"  https://relay.example.com  ", "wss://relay.example.com" + ep},
		{"http://127.0.0.1:2470", "ws://127.0.0.1:2470" + ep},
		{"HTTP://localhost:2470/", "ws://localhost:2470" + ep},
		{"ws://[::1]:80" + ep, "ws://[::1]:80" + ep},
		{"wss://host" + ep + "/", "wss://host" + ep},
		{"wss://host/xrpc", "wss://host" + ep},
		{"wss://host/xrpc/", "wss://host" + ep},
		{"wss://host/relay", "wss://host/relay" + ep},
		{"wss://host/relay/xrpc", "wss://host/relay" + ep},
		{"wss://host/?b=2&a=1#frag", "wss://host" + ep + "?a=1&b=2"},
		{"wss://host/a%20b", "wss://host/a%20b" + ep},
	} {
		got, err := NormalizeURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "   ", "ftp://host", "wss://", "wss:///path", "mailto:someone@example.com",
		"wss://user:pass@host", "wss://host/?cursor=5", "wss://host/?a=%zz", "wss://ho st/",
	} {
		if got, err := NormalizeURL(in); !errors.Is(err, ErrBadURL) {
			t.Errorf("NormalizeURL(%q) = %q, %v; want ErrBadURL", in, got, err)
		}
	}
}

func TestWithCursor(t *testing.T) {
	t.Parallel()
	u, err := normalize("wss://host/?x=1")
	if err != nil {
		t.Fatal(err)
	}
	for cursor, want := range map[int64]string{
		NoCursor: "wss://host" + Endpoint + "?x=1",
		0:        "wss://host" + Endpoint + "?cursor=0&x=1",
		42:       "wss://host" + Endpoint + "?cursor=42&x=1",
	} {
		if got := withCursor(u, cursor); got != want {
			t.Errorf("withCursor(%d) = %q, want %q", cursor, got, want)
		}
	}
	if u.RawQuery != "x=1" {
		t.Errorf("withCursor changed the base URL: %q", u.RawQuery)
	}
}

func TestRedirectTarget(t *testing.T) {
	t.Parallel()
	from := "wss://a.example" + Endpoint + "?cursor=7"
	for _, tc := range []struct {
		loc    string
		cursor int64
		want   string
	}{
		{"https://b.example" + Endpoint + "?cursor=999", 7, "wss://b.example" + Endpoint + "?cursor=7"},
		{"http://b.example:8080/x", 7, "ws://b.example:8080/x?cursor=7"},
		{"/other", 7, "wss://a.example/other?cursor=7"},
		{"wss://b.example/p?cursor=3&k=v", NoCursor, "wss://b.example/p?k=v"},
	} {
		got, err := redirectTarget(from, tc.loc, tc.cursor)
		if err != nil || got != tc.want {
			t.Errorf("redirectTarget(%q) = %q, %v; want %q", tc.loc, got, err, tc.want)
		}
	}
	for _, loc := range []string{"", "ftp://b.example/", "https://u:p@b.example/", "%zz"} {
		if got, err := redirectTarget(from, loc, 7); err == nil {
			t.Errorf("redirectTarget(%q) = %q, want an error", loc, got)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		" 5 ":                           5 * time.Second,
		"-3":                            0,
		"junk":                          0,
		"99999999999":                   maxRetryAfter,
		"Sat, 01 Aug 2026 12:00:30 GMT": 30 * time.Second,
		"Sat, 01 Aug 2026 11:00:00 GMT": 0,
		"Mon, 01 Aug 2050 12:00:30 GMT": maxRetryAfter,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", h, got, want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	b := backoff{min: 10 * time.Millisecond, max: 200 * time.Millisecond}
	for attempt := range 100 {
		d := b.next()
		ceil := min(b.min<<min(attempt, 30), b.max)
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, ceil/2, ceil)
		}
	}
	b.reset()
	if d := b.next(); d > b.min {
		t.Errorf("after reset: %s > %s", d, b.min)
	}
}

// FuzzNormalizeURL: NormalizeURL never panics; what it accepts is a
// ws/wss URL with a host, the stream path and no cursor, is a fixed point,
// and takes a cursor parameter that parses back.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		"wss://bsky.network", "bsky.network", "http://127.0.0.1:2470/", "https://h/xrpc",
		"wss://h" + Endpoint + "?a=1#x", "ws://[::1]:80/p", "wss://h/a%2Fb", "wss://h/?cursor=1",
		"wss://u@h", "ws://h:/", "ws://h/%zz", "ws://h/?;", "://", "ws:/h", "ws://h/..//x",
		"ws://h?", "ws://h/?a=%20&&b", "ws://%41/", "ws://h/\x00", "ws://h\\x/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := NormalizeURL(raw)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("error %v is not ErrBadURL", err)
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("result %q does not parse: %v", got, err)
		}
		if u.Scheme != "ws" && u.Scheme != "wss" {
			t.Fatalf("result %q: scheme %q", got, u.Scheme)
		}
		if u.Host == "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("result %q: host %q user %v fragment %q", got, u.Host, u.User, u.Fragment)
		}
		if !strings.HasSuffix(u.Path, Endpoint) {
			t.Fatalf("result %q: path %q", got, u.Path)
		}
		if u.Query().Has("cursor") {
			t.Fatalf("result %q has a cursor", got)
		}
		again, err := NormalizeURL(got)
		if err != nil || again != got {
			t.Fatalf("not a fixed point: %q -> %q, %v", got, again, err)
		}
		base, err := normalize(got)
		if err != nil {
			t.Fatal(err)
		}
		withC, err := url.Parse(withCursor(base, 12345))
		if err != nil || withC.Query().Get("cursor") != "12345" || withC.Host != u.Host || withC.Path != u.Path {
			t.Fatalf("withCursor(%q) = %v, %v", got, withC, err)
		}
	})
}
