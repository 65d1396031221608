package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/conflux-atproto/conflux/relay/internal/state"
)

// ErrForbiddenAddress: a host resolved to an address the SSRF guard refuses.
var ErrForbiddenAddress = errors.New("relay: forbidden address")

// publicAddr reports whether ip may be dialled from a production relay: no
// loopback, private, link-local, multicast, unspecified or otherwise reserved
// ranges (an upstream could otherwise point us at our own network).
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"), // documentation
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fc00::/7"),
}

// guardControl checks, at connect time, the address actually dialled, so a
// DNS answer that changes between check and dial cannot slip through.
func guardControl(dev bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if dev {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		if !publicAddr(ap.Addr()) {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		if p := ap.Port(); p != 443 && p != 80 {
			return fmt.Errorf("%w: port %d", ErrForbiddenAddress, p)
		}
		return nil
	}
}

func (r *Relay) guardedDialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, Control: guardControl(r.cfg.Dev)}
}

// guardedClient is the HTTP client for host checks: guarded dialer, no
// redirects (a redirect could lead anywhere), short timeout.
func (r *Relay) guardedClient() *http.Client {
	return &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{DialContext: r.guardedDialer().DialContext, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkHostname refuses names a production relay should never dial. The
// dial-time guard is the real protection; this gives a clear early error.
func (r *Relay) checkHostname(hostname string) error {
	if r.cfg.Dev {
		return nil
	}
	name := hostname
	if h, port, err := net.SplitHostPort(hostname); err == nil {
		if port != "443" && port != "80" {
			return fmt.Errorf("%w: port %s needs the development flag", ErrBadHost, port)
		}
		name = h
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") || !strings.Contains(name, ".") {
		return fmt.Errorf("%w: %s needs the development flag", ErrBadHost, name)
	}
	if ip, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil && !publicAddr(ip) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, name)
	}
	return nil
}

// describeServer is requestCrawl's liveness check. It also refuses relays
// (a Server header saying atproto-relay), which would make a loop.
func (r *Relay) describeServer(ctx context.Context, hostname string, noSSL bool) error {
	scheme := "https://"
	if noSSL {
		scheme = "http://"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+hostname+"/xrpc/com.atproto.server.describeServer", nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadHost, err)
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := r.guardedClient().Do(req)
	if err != nil {
		return fmt.Errorf("%w: describeServer: %v", ErrHostUnreachable, err)
	}
	resp.Body.Close()
	if strings.Contains(resp.Header.Get("Server"), "atproto-relay") {
		return fmt.Errorf("%w: %s", ErrRelayLoop, hostname)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: describeServer answered %d", ErrHostUnreachable, resp.StatusCode)
	}
	return nil
}

// Errors of RequestCrawl.
var (
	ErrHostUnreachable = errors.New("relay: host did not answer describeServer")
	ErrRelayLoop       = errors.New("relay: host is a relay")
)

// RequestCrawl is com.atproto.sync.requestCrawl: normalise, refuse banned
// domains, forbidden addresses and relays, check liveness, then subscribe.
func (r *Relay) RequestCrawl(ctx context.Context, raw string) error {
	hostname, noSSL, err := r.parseHost(raw)
	if err != nil {
		return err
	}
	if r.cfg.Dev && hostname == "localhost" {
		r.portlessLocalhost(ctx)
		return nil
	}
	if r.domainBanned(hostname) {
		return fmt.Errorf("%w: %s", ErrHostBanned, hostname)
	}
	if err := r.checkHostname(hostname); err != nil {
		return err
	}
	if err := r.describeServer(ctx, hostname, noSSL); err != nil {
		return err
	}
	scheme := "https://"
	if noSSL {
		scheme = "http://"
	}
	return r.AddHost(ctx, scheme+hostname, HostOptions{})
}

// portlessLocalhost answers a development requestCrawl for plain
// "localhost". The reference PDS in development mode announces its
// configured hostname, which is "localhost" without the port it listens on,
// so there is nothing we could dial; refusing would only fill the host's log
// with failed crawl requests. The request is accepted and logged: the
// operator adds the host with its port (AddHost, --host).
func (r *Relay) portlessLocalhost(ctx context.Context) {
	hosts, err := state.ListHosts(r.db)
	if err != nil {
		r.log.Warn("requestCrawl for localhost", "err", err)
		return
	}
	for _, h := range hosts {
		if strings.HasPrefix(h.Hostname, "localhost:") && h.Status == state.HostActive {
			r.log.DebugContext(ctx, "requestCrawl for localhost without a port; localhost hosts are subscribed", "host", h.Hostname)
			return
		}
	}
	r.log.InfoContext(ctx, "requestCrawl for localhost without a port: cannot dial it; add the host with its port")
}
