package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// DefaultPLCURL is the public PLC directory.
const DefaultPLCURL = "https://plc.directory"

// DefaultHTTPTimeout bounds one document fetch by the default client.
const DefaultHTTPTimeout = 10 * time.Second

// Config configures a [Resolver]. The zero value is usable.
type Config struct {
	// PLCURL is the PLC directory base URL; DefaultPLCURL if empty.
	PLCURL string
	// HTTPClient fetches documents. If nil, a client with
	// DefaultHTTPTimeout that does not follow redirects is used. A caller
	// supplying a client should set a timeout too.
	HTTPClient *http.Client
	// MaxDocumentSize caps a fetched document in bytes; MaxDocumentSize
	// (the package constant) if zero.
	MaxDocumentSize int
	// UserAgent is sent with every request if set.
	UserAgent string
	// WebHosts maps a did:web hostname to the base URL (scheme://host:port)
	// its document is fetched from instead of https://hostname. It is for
	// tests and private deployments; the DID itself is still validated and
	// the document's id must still equal it.
	WebHosts map[string]string
	// DevLocalhost enables the development-only forms of did:web: the host
	// "localhost", optionally with a percent-encoded port
	// (did:web:localhost%3A2583), fetched over plain http, and the ".test"
	// top-level domain. Never set it in production: it lets a DID point the
	// resolver at services on the resolver's own machine.
	DevLocalhost bool
}

// Resolver fetches and parses DID documents. It holds no mutable state and
// is safe for concurrent use. It does not cache; wrap it in a [Cache].
type Resolver struct {
	plcURL    string
	client    *http.Client
	maxSize   int
	userAgent string
	webHosts  map[string]string
	dev       bool
}

// NewResolver validates cfg and returns a resolver. It starts nothing.
func NewResolver(cfg Config) (*Resolver, error) {
	r := &Resolver{
		plcURL:    cfg.PLCURL,
		client:    cfg.HTTPClient,
		maxSize:   cfg.MaxDocumentSize,
		userAgent: cfg.UserAgent,
		dev:       cfg.DevLocalhost,
	}
	if r.plcURL == "" {
		r.plcURL = DefaultPLCURL
	}
	base, err := checkBaseURL(r.plcURL)
	if err != nil {
		return nil, fmt.Errorf("identity resolver: PLC URL: %w", err)
	}
	r.plcURL = base
	if r.client == nil {
		r.client = &http.Client{
			Timeout: DefaultHTTPTimeout,
			// A redirect would let a did:web host send us anywhere,
			// including to addresses it could not name itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if r.maxSize < 0 {
		return nil, fmt.Errorf("identity resolver: negative MaxDocumentSize %d", r.maxSize)
	}
	if r.maxSize == 0 {
		r.maxSize = MaxDocumentSize
	}
	r.webHosts = make(map[string]string, len(cfg.WebHosts))
	for host, u := range cfg.WebHosts {
		base, err := checkBaseURL(u)
		if err != nil {
			return nil, fmt.Errorf("identity resolver: WebHosts[%q]: %w", host, err)
		}
		r.webHosts[host] = base
	}
	return r, nil
}

// checkBaseURL accepts an http(s) URL with a host and no query or
// fragment, and returns it without a trailing slash.
func checkBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not an http(s) base URL", s)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// Resolve returns the identity of did. Errors wrap ErrInvalidDID,
// ErrUnsupportedMethod, ErrDIDNotFound, ErrDIDTombstoned,
// ErrInvalidDocument or ErrResolutionFailed; when ctx ends first the error
// also matches ctx.Err().
func (r *Resolver) Resolve(ctx context.Context, did string) (*Identity, error) {
	d, err := syntax.ParseDID(did)
	if err != nil {
		return nil, err
	}
	switch d.Method() {
	case "plc":
		return r.resolvePLC(ctx, d)
	case "web":
		return r.resolveWeb(ctx, d)
	case "key":
		return resolveKey(d)
	default:
		return nil, fmt.Errorf("%s: %w", truncate(did), ErrUnsupportedMethod)
	}
}

// plcIDLen is the length of a did:plc identifier: the first 120 bits of a
// SHA-256, base32-encoded.
const plcIDLen = 24

func (r *Resolver) resolvePLC(ctx context.Context, did syntax.DID) (*Identity, error) {
	id := strings.TrimPrefix(string(did), "did:plc:")
	if len(id) != plcIDLen || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		return nil, fmt.Errorf("%w: did:plc identifier must be %d base32 characters: %q", ErrInvalidDID, plcIDLen, did)
	}
	// The identifier is plain base32, so the URL needs no escaping.
	return r.fetch(ctx, did, r.plcURL+"/"+string(did), true)
}

func (r *Resolver) resolveWeb(ctx context.Context, did syntax.DID) (*Identity, error) {
	host, err := r.webHost(did)
	if err != nil {
		return nil, err
	}
	base, ok := r.webHosts[host]
	switch {
	case ok:
	case r.dev && (host == "localhost" || strings.HasPrefix(host, "localhost:")):
		base = "http://" + host
	default:
		base = "https://" + host
	}
	return r.fetch(ctx, did, base+"/.well-known/did.json", false)
}

// webHost validates a did:web DID and returns the host (with ":port" for
// localhost). atproto allows only hostname-level did:web: no paths, the
// handle rules for the hostname, and a port only on localhost in
// development.
func (r *Resolver) webHost(did syntax.DID) (string, error) {
	id := strings.TrimPrefix(string(did), "did:web:")
	bad := func(why string) error {
		return fmt.Errorf("%w: %s: %q", ErrInvalidDID, why, did)
	}
	if strings.Contains(id, ":") {
		return "", bad("path-based did:web is not supported")
	}
	host, port, hasPort := cutFold(id, "%3a")
	if host == "localhost" {
		if !r.dev {
			return "", bad("localhost is only allowed in development")
		}
		if !hasPort {
			return host, nil
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || port[0] == '0' {
			return "", bad("invalid port")
		}
		return host + ":" + port, nil
	}
	if hasPort {
		return "", bad("a port is only allowed for localhost")
	}
	if strings.Contains(host, "%") {
		return "", bad("percent-encoding is only allowed for a localhost port")
	}
	// The DID spec applies the handle rules, including the reserved
	// top-level domains, to did:web hostnames.
	h, err := syntax.ParseHandle(host)
	if err != nil {
		return "", bad("hostname is not a valid handle")
	}
	if !h.AllowedTLD() || (h.TLD() == "test" && !r.dev) {
		return "", bad("top-level domain ." + h.TLD() + " is not allowed")
	}
	return host, nil
}

// cutFold is strings.Cut with an ASCII case-insensitive separator.
func cutFold(s, sep string) (before, after string, found bool) {
	if i := strings.Index(strings.ToLower(s), sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// fetch GETs one document and parses it. plc selects the PLC directory's
// meaning of 410 (tombstoned); for did:web it means not found.
func (r *Resolver) fetch(ctx context.Context, did syntax.DID, u string, plc bool) (*Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", did, ErrResolutionFailed, err)
	}
	req.Header.Set("Accept", "application/did+ld+json, application/json")
	if r.userAgent != "" {
		req.Header.Set("User-Agent", r.userAgent)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", did, ErrResolutionFailed, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusGone && !plc:
		discard(resp.Body)
		return nil, fmt.Errorf("%s: %w (HTTP %d)", did, ErrDIDNotFound, resp.StatusCode)
	case resp.StatusCode == http.StatusGone:
		discard(resp.Body)
		return nil, fmt.Errorf("%s: %w", did, ErrDIDTombstoned)
	default:
		discard(resp.Body)
		return nil, fmt.Errorf("%s: %w: HTTP %d", did, ErrResolutionFailed, resp.StatusCode)
	}
	if resp.ContentLength > int64(r.maxSize) {
		return nil, fmt.Errorf("%s: %w (Content-Length %d, limit %d)", did, ErrDocumentTooLarge, resp.ContentLength, r.maxSize)
	}
	// Read one byte past the limit so an oversized body is told apart
	// from one that is exactly at the limit.
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(r.maxSize)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: read body: %w", did, ErrResolutionFailed, err)
	}
	return parseDocument(string(did), body, r.maxSize)
}

// discard drains a little of an unwanted body so the connection can be
// reused, without letting a hostile server keep us reading.
func discard(body io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
}

// resolveKey synthesizes the document of a did:key: the key itself as the
// atproto signing key, no services and no handle.
func resolveKey(did syntax.DID) (*Identity, error) {
	k, err := crypto.ParseDIDKey(string(did))
	if err != nil {
		return nil, fmt.Errorf("%w: did:key: %w", ErrInvalidDID, err)
	}
	doc := struct {
		Context []string `json:"@context"`
		document
	}{
		Context: []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"},
		document: document{
			ID: string(did),
			VerificationMethod: []verificationMethod{{
				ID:                 string(did) + "#" + signingKeyFragment,
				Type:               crypto.VerificationMethodMultikey,
				Controller:         string(did),
				PublicKeyMultibase: k.Multibase(),
			}},
		},
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: encode synthesized document: %w", did, err)
	}
	return newIdentity(did, &doc.document, raw), nil
}

// isAuthoritative reports whether err is an answer about the DID (it does
// not exist, its document is bad) rather than a failure to get one. The
// cache lets only authoritative failures replace a good entry.
func isAuthoritative(err error) bool {
	return errors.Is(err, ErrDIDNotFound) || errors.Is(err, ErrDIDTombstoned) ||
		errors.Is(err, ErrInvalidDocument) || errors.Is(err, ErrInvalidDID) ||
		errors.Is(err, ErrUnsupportedMethod)
}
