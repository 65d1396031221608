package pds

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/conflux-atproto/conflux/firehose/eventlog"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// DID methods a PDS can create accounts with.
const (
	DIDMethodPLC = "plc"
	DIDMethodWeb = "web"
)

// Defaults for zero Config fields.
const (
	DefaultMaxBlobSize = 5 << 20
	// MaxRecordSize is the largest encoded record accepted (the sync spec's
	// per-block limit).
	MaxRecordSize = 1_000_000
	// MaxWrites caps the writes of one applyWrites (the #commit ops limit).
	MaxWrites = 200
	// AccessTTL and RefreshTTL are the lifetimes of session tokens, as the
	// reference PDS gives them.
	AccessTTL  = 2 * time.Hour
	RefreshTTL = 90 * 24 * time.Hour
)

// ErrConfig reports a Config that New cannot use.
var ErrConfig = errors.New("pds: invalid config")

// RecordValidator checks a record against its collection's schema. A
// *lexicon.Catalog satisfies it.
type RecordValidator interface {
	ValidateRecord(collection string, rec map[string]any) error
	ValidateRecordKey(collection, rkey string) error
}

// Config configures New. DataDir and PublicURL are required.
type Config struct {
	// DataDir holds the repository store (DataDir/repo) and the event log
	// (DataDir/events); created if missing.
	DataDir string
	// PublicURL is where the PDS is reached (e.g. http://127.0.0.1:2583):
	// the PDS endpoint written into DID documents. Its host also names the
	// service DID (did:web:host) that session tokens are issued for.
	PublicURL string
	// PLCURL is the PLC directory for did:plc accounts; identity's default
	// (https://plc.directory) if empty.
	PLCURL string
	// DIDMethod is "plc" (default) or "web". With did:web an account's DID
	// is did:web:<handle>, and this PDS serves its document at
	// /.well-known/did.json for requests whose Host is the handle.
	DIDMethod string
	// HandleDomains are the suffixes handles may end with (".test"); at least
	// one is required.
	HandleDomains []string
	// AdminPassword enables admin auth (Basic admin:<password>, or Bearer
	// <password>) on every repo. Empty disables it.
	AdminPassword string
	// JWTSecret is the HMAC key of session tokens. If empty, a random one
	// is generated and kept in the store.
	JWTSecret string
	// SigningAlg is the curve of new accounts' signing keys: crypto.AlgK256
	// (ES256K, default) or crypto.AlgP256.
	SigningAlg string
	// InitialSeq is the floor of the event log's seqs (see eventlog.Config).
	InitialSeq int64
	// Retention is how long events stay replayable; the event log's default
	// if zero.
	Retention time.Duration
	// EventsMaxBytes, if positive, also bounds the event log's size.
	EventsMaxBytes int64
	// MaxBlobSize bounds one uploaded blob. Default DefaultMaxBlobSize.
	MaxBlobSize int64
	// NoSync commits without fsync (repository store and event log): a crash
	// may lose acknowledged writes. For tests and benchmarks only.
	NoSync bool
	// BcryptCost is the cost of password hashes. Default bcrypt.DefaultCost;
	// tests and benchmarks that create many accounts lower it.
	BcryptCost int
	// Validator checks records and record keys against their schemas.
	// Default: the embedded lexicon catalog (lexicon.Default()).
	Validator RecordValidator
	// Clock issues revs and record keys. Default: a random-id clock.
	Clock *syntax.Clock
	// Now is the wall clock for tokens and event times. Default time.Now.
	Now func() time.Time
	// HTTPClient talks to the PLC directory. Default: a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	// Logger gets the PDS's lines (component=pds). Default: discard.
	Logger *slog.Logger
	// Registry, if set, gets the conflux_pds_* series and those of the event
	// log and the subscribe server. A process running several hosts wraps
	// it with a constant label per host.
	Registry prometheus.Registerer
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, fmt.Errorf("%w: DataDir is required", ErrConfig)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return c, fmt.Errorf("%w: PublicURL %q must be an http(s) origin", ErrConfig, c.PublicURL)
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	switch c.DIDMethod {
	case "":
		c.DIDMethod = DIDMethodPLC
	case DIDMethodPLC, DIDMethodWeb:
	default:
		return c, fmt.Errorf("%w: DIDMethod %q (want plc or web)", ErrConfig, c.DIDMethod)
	}
	if len(c.HandleDomains) == 0 {
		return c, fmt.Errorf("%w: HandleDomains is empty", ErrConfig)
	}
	domains := make([]string, len(c.HandleDomains))
	for i, d := range c.HandleDomains {
		d = strings.ToLower(d)
		if !strings.HasPrefix(d, ".") {
			d = "." + d
		}
		if _, err := syntax.ParseHandle("x" + d); err != nil {
			return c, fmt.Errorf("%w: handle domain %q: %w", ErrConfig, d, err)
		}
		domains[i] = d
	}
	c.HandleDomains = domains
	switch c.SigningAlg {
	case "":
		c.SigningAlg = crypto.AlgK256
	case crypto.AlgK256, crypto.AlgP256:
	default:
		return c, fmt.Errorf("%w: SigningAlg %q", ErrConfig, c.SigningAlg)
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = bcrypt.DefaultCost
	}
	if c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost {
		return c, fmt.Errorf("%w: BcryptCost %d", ErrConfig, c.BcryptCost)
	}
	if c.MaxBlobSize <= 0 {
		c.MaxBlobSize = DefaultMaxBlobSize
	}
	if c.Retention <= 0 {
		c.Retention = eventlog.DefaultRetention
	}
	if c.Validator == nil {
		c.Validator = lexicon.Default()
	}
	if c.Clock == nil {
		c.Clock = syntax.NewRandomClock()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.Logger = c.Logger.With("component", "pds")
	return c, nil
}

// serviceDID is the DID session tokens are issued for: did:web of the public
// host (a port is percent-encoded, as did:web requires).
func (c Config) serviceDID() string {
	u, _ := url.Parse(c.PublicURL) // checked in withDefaults
	return "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A")
}
