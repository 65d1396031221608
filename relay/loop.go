package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
)

// maxHandshakeHead bounds how much of a host's handshake response the loop
// guard buffers while looking for the end of its headers.
const maxHandshakeHead = 64 << 10

// isRelayServer reports whether a Server header names a relay. Relays mark
// themselves so ("... (atproto-relay)"); subscribing to one would make a
// loop (its stream may carry our own events back to us).
func isRelayServer(server string) bool {
	return strings.Contains(server, "atproto-relay")
}

// loopGuard dials hosts for the ingest consumer and reads the subscribeRepos
// handshake response as it passes: if its Server header says the upstream
// is a relay, the read fails (so does the handshake) and refuse is called,
// which stops the host. requestCrawl already refuses relays by their
// describeServer answer; this catches hosts added otherwise (flags, admin,
// a host that became a relay since). The consumer owns the WebSocket
// handshake, so the guard works on the bytes below it.
type loopGuard struct {
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	refuse func()
	tls    *tls.Config // base TLS settings (roots); nil for the system's
}

func (g *loopGuard) dialPlain(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := g.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, refuse: g.refuse}, nil
}

// dialTLS does the TLS handshake itself (the guard must see the plaintext
// HTTP response, above TLS).
func (g *loopGuard) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := g.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if g.tls != nil {
		cfg = g.tls.Clone()
	}
	cfg.ServerName = host
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return &sniffConn{Conn: tc, refuse: g.refuse}, nil
}

// sniffConn passes reads through, buffering the start of the stream until
// the HTTP response head is complete, and checks its Server header once.
type sniffConn struct {
	net.Conn
	refuse func()

	mu   sync.Mutex
	head []byte
	done bool
	err  error
}

func (c *sniffConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return 0, c.err
	}
	done := c.done
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if done || n == 0 {
		return n, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.head = append(c.head, p[:n]...)
	end := bytes.Index(c.head, []byte("\r\n\r\n"))
	if end < 0 && len(c.head) < maxHandshakeHead {
		return n, err
	}
	c.done = true
	head := c.head
	c.head = nil
	if end < 0 {
		return n, err // not an HTTP response we can read; the handshake will say so
	}
	resp, perr := http.ReadResponse(bufio.NewReader(bytes.NewReader(head[:end+4])), nil)
	if perr != nil || !isRelayServer(resp.Header.Get("Server")) {
		return n, err
	}
	c.err = ErrRelayLoop
	c.refuse()
	return 0, c.err
}

// tlsConfig is the TLS configuration of Config.HTTPClient's transport, if
// it has one (a private CA in tests and closed deployments): host dials
// trust what host checks trust.
func (r *Relay) tlsConfig() *tls.Config {
	if r.cfg.HTTPClient == nil {
		return nil
	}
	if t, ok := r.cfg.HTTPClient.Transport.(*http.Transport); ok {
		return t.TLSClientConfig
	}
	return nil
}
