package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// MaxDocumentSize is the largest DID document ParseDocument accepts. Real
// documents are well under 2 KiB; the limit only has to keep a hostile
// did:web host from making us buffer and decode megabytes.
const MaxDocumentSize = 64 << 10

// Fragments and types atproto looks for in a DID document.
const (
	signingKeyFragment = "atproto"
	pdsFragment        = "atproto_pds"
	pdsType            = "AtprotoPersonalDataServer"
	handleURIPrefix    = "at://"
)

// document is the subset of a DID document that atproto reads. Other
// members (@context, authentication, ...) are ignored. encoding/json
// matches member names case-insensitively; that only ever widens what is
// accepted, and every value used is checked after decoding.
type document struct {
	ID                 string               `json:"id"`
	AlsoKnownAs        []string             `json:"alsoKnownAs,omitempty"`
	VerificationMethod []verificationMethod `json:"verificationMethod,omitempty"`
	Service            []docService         `json:"service,omitempty"`
}

type verificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

type docService struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// ServiceEndpoint may be a string, a map or a list in DID Core; atproto
	// only uses the string form, so it is checked on use.
	ServiceEndpoint json.RawMessage `json:"serviceEndpoint"`
}

// service is a docService whose endpoint has been checked. Checking at
// parse time keeps Identity free of the raw JSON.
type service struct {
	id, typ  string
	endpoint string // "" if invalid
	err      error  // why endpoint is ""
}

// ParseDocument decodes a JSON DID document fetched for did. The document's
// "id" must equal did. Errors wrap ErrInvalidDID, ErrInvalidDocument or
// ErrDocumentTooLarge. A document without a signing key, PDS or handle still
// parses; the corresponding Identity methods report what is missing. raw is
// copied, so the caller may reuse it.
func ParseDocument(did string, raw []byte) (*Identity, error) {
	return parseDocument(did, raw, MaxDocumentSize)
}

func parseDocument(did string, raw []byte, limit int) (*Identity, error) {
	d, err := syntax.ParseDID(did)
	if err != nil {
		return nil, err
	}
	if len(raw) > limit {
		return nil, fmt.Errorf("%s: %w (%d bytes, limit %d)", did, ErrDocumentTooLarge, len(raw), limit)
	}
	var doc document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", did, ErrInvalidDocument, err)
	}
	if doc.ID == "" {
		return nil, fmt.Errorf("%s: %w: missing id", did, ErrInvalidDocument)
	}
	if doc.ID != did {
		return nil, fmt.Errorf("%s: %w: id is %q", did, ErrInvalidDocument, truncate(doc.ID))
	}
	return newIdentity(d, &doc, bytes.Clone(raw)), nil
}

// newIdentity extracts the atproto facts from a decoded document whose id
// has already been checked against did.
func newIdentity(did syntax.DID, doc *document, raw []byte) *Identity {
	id := &Identity{
		DID:    did,
		Handle: declaredHandle(doc.AlsoKnownAs),
		Raw:    raw,
	}
	id.key, id.keyErr = signingKey(did, doc.VerificationMethod)
	id.services = make([]service, len(doc.Service))
	for i, s := range doc.Service {
		ep, err := parseEndpoint(s.ServiceEndpoint)
		id.services[i] = service{id: s.ID, typ: s.Type, endpoint: ep, err: err}
	}
	pds, err := findService(did, id.services, pdsFragment, pdsType)
	if err != nil {
		id.pdsErr = fmt.Errorf("%w: %w", ErrNoPDS, err)
	} else {
		id.pds = pds
	}
	return id
}

// declaredHandle returns the first valid handle among the at:// URIs, as
// the DID spec says: later handle URIs, and invalid ones, are ignored.
func declaredHandle(aka []string) syntax.Handle {
	for _, u := range aka {
		rest, ok := strings.CutPrefix(u, handleURIPrefix)
		if !ok {
			continue
		}
		h, err := syntax.ParseHandle(rest)
		if err != nil {
			continue
		}
		return h.Normalize()
	}
	return ""
}

// signingKey parses the first "#atproto" verification method. The first
// match decides: a broken first key is reported, not skipped, so a
// document cannot smuggle a second key past a consumer that looks only at
// the first.
func signingKey(did syntax.DID, methods []verificationMethod) (crypto.PublicKey, error) {
	for _, m := range methods {
		if !matchesFragment(did, m.ID, signingKeyFragment) {
			continue
		}
		if m.Controller != string(did) {
			return nil, fmt.Errorf("%s: %w: controller is %q", did, ErrNoSigningKey, truncate(m.Controller))
		}
		if m.PublicKeyMultibase == "" {
			return nil, fmt.Errorf("%s: %w: verification method has no publicKeyMultibase", did, ErrNoSigningKey)
		}
		// ParsePublicLegacyMultibase also handles type Multikey and
		// rejects unknown types.
		k, err := crypto.ParsePublicLegacyMultibase(m.PublicKeyMultibase, m.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", did, ErrNoSigningKey, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%s: %w", did, ErrNoSigningKey)
}

// findService returns the endpoint of the first service with the fragment
// and type. As for keys, the first match decides.
func findService(did syntax.DID, services []service, fragment, typ string) (string, error) {
	for _, s := range services {
		if s.typ != typ || !matchesFragment(did, s.id, fragment) {
			continue
		}
		if s.err != nil {
			return "", fmt.Errorf("%s: %w #%s: %w", did, ErrNoService, fragment, s.err)
		}
		return s.endpoint, nil
	}
	return "", fmt.Errorf("%s: %w #%s of type %q", did, ErrNoService, fragment, typ)
}

// matchesFragment reports whether id is "#"+fragment or did+"#"+fragment,
// without building either string.
func matchesFragment(did syntax.DID, id, fragment string) bool {
	rest, ok := strings.CutSuffix(id, fragment)
	if !ok || !strings.HasSuffix(rest, "#") {
		return false
	}
	rest = rest[:len(rest)-1]
	return rest == "" || rest == string(did)
}

// parseEndpoint checks a serviceEndpoint value: a JSON string holding an
// http(s) URL of an origin (scheme, host, optional port). atproto forbids
// user info, paths, queries and fragments there. The result is normalized
// to lower case without a trailing slash, so callers can compare hosts.
func parseEndpoint(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("serviceEndpoint is not a string")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("serviceEndpoint: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("serviceEndpoint %q: scheme must be http or https", truncate(s))
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("serviceEndpoint %q: no host", truncate(s))
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("serviceEndpoint %q: must be an origin", truncate(s))
	case u.Path != "" && u.Path != "/":
		return "", fmt.Errorf("serviceEndpoint %q: must not have a path", truncate(s))
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// truncate bounds strings from documents before they go into error
// messages, which end up in logs.
func truncate(s string) string {
	const limit = 128
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
