package plc

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mr-tron/base58"

	"github.com/conflux-atproto/conflux/repo/crypto"
)

// ErrTombstoned: the DID was deactivated by a plc_tombstone.
var ErrTombstoned = errors.New("DID tombstoned")

// JSON-LD contexts of a rendered document, as the reference directory
// emits them: the two base contexts, then one per key curve in the order
// the keys first appear.
const (
	contextDID       = "https://www.w3.org/ns/did/v1"
	contextMultikey  = "https://w3id.org/security/multikey/v1"
	contextK256      = "https://w3id.org/security/suites/secp256k1-2019/v1"
	contextP256      = "https://w3id.org/security/suites/ecdsa-2019/v1"
	multikeyType     = crypto.VerificationMethodMultikey
	fragmentSep      = "#"
	didKeyTrimPrefix = crypto.DIDKeyPrefix
)

// Multicodec varints of the two public key types (secp256k1-pub 0xe7,
// p256-pub 0x1200), as they start a decoded did:key.
var (
	multicodecK256 = []byte{0xe7, 0x01}
	multicodecP256 = []byte{0x80, 0x24}
)

// Data is the current state of a DID, as served at /{did}/data.
type Data struct {
	DID                 string             `json:"did"`
	RotationKeys        []string           `json:"rotationKeys"`
	VerificationMethods map[string]string  `json:"verificationMethods"`
	AlsoKnownAs         []string           `json:"alsoKnownAs"`
	Services            map[string]Service `json:"services"`
}

// Document is a rendered DID document, as served at /{did}.
type Document struct {
	Context            []string             `json:"@context"`
	ID                 string               `json:"id"`
	AlsoKnownAs        []string             `json:"alsoKnownAs"`
	VerificationMethod []VerificationMethod `json:"verificationMethod"`
	Service            []DocumentService    `json:"service"`
}

// VerificationMethod is a key in a DID document.
type VerificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// DocumentService is a service in a DID document.
type DocumentService struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	ServiceEndpoint string `json:"serviceEndpoint"`
}

// DataFromOp returns the state a head operation gives did. The error wraps
// ErrTombstoned for a tombstone.
func DataFromOp(did string, op *Op) (*Data, error) {
	switch op.Type {
	case TypeOperation:
	case TypeTombstone:
		return nil, fmt.Errorf("%s: %w", did, ErrTombstoned)
	default:
		return nil, op.checkType()
	}
	d := &Data{
		DID:                 did,
		RotationKeys:        slices.Clone(op.RotationKeys),
		VerificationMethods: maps.Clone(op.VerificationMethods),
		AlsoKnownAs:         slices.Clone(op.AlsoKnownAs),
		Services:            maps.Clone(op.Services),
	}
	// Clones of nil are nil, which JSON would write as null.
	if d.VerificationMethods == nil {
		d.VerificationMethods = map[string]string{}
	}
	if d.Services == nil {
		d.Services = map[string]Service{}
	}
	if d.RotationKeys == nil {
		d.RotationKeys = []string{}
	}
	if d.AlsoKnownAs == nil {
		d.AlsoKnownAs = []string{}
	}
	return d, nil
}

// keyContext returns the JSON-LD context of a did:key's curve. It reads
// only the multicodec prefix: keys were fully parsed when their operation
// was accepted, and parsing again would decompress a curve point (most of
// the cost of serving a document) only to learn the curve.
func keyContext(didKey string) (string, error) {
	mb, ok := strings.CutPrefix(didKey, didKeyTrimPrefix+"z")
	if !ok {
		return "", fmt.Errorf("%w: not a base58btc did:key", crypto.ErrInvalidKey)
	}
	b, err := base58.Decode(mb)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %w", crypto.ErrInvalidKey, err)
	case bytes.HasPrefix(b, multicodecK256):
		return contextK256, nil
	case bytes.HasPrefix(b, multicodecP256):
		return contextP256, nil
	}
	return "", fmt.Errorf("%w: not a K-256 or P-256 did:key", crypto.ErrUnsupportedKey)
}

// Document renders the DID document. Keys are Multikey entries with a
// DID-qualified id ("did:plc:...#atproto"), services have relative ids
// ("#atproto_pds"), as the reference directory renders them. Map entries
// are emitted in key order so the document is deterministic. Keys are
// checked only for their curve, not re-validated: the directory validated
// them when it accepted the operation.
func (d *Data) Document() (*Document, error) {
	doc := &Document{
		Context:            []string{contextDID, contextMultikey},
		ID:                 d.DID,
		AlsoKnownAs:        slices.Clone(d.AlsoKnownAs),
		VerificationMethod: []VerificationMethod{},
		Service:            []DocumentService{},
	}
	if doc.AlsoKnownAs == nil {
		doc.AlsoKnownAs = []string{}
	}
	for _, id := range slices.Sorted(maps.Keys(d.VerificationMethods)) {
		didKey := d.VerificationMethods[id]
		ctx, err := keyContext(didKey)
		if err != nil {
			return nil, fmt.Errorf("%s: verification method %q: %w", d.DID, id, err)
		}
		if !slices.Contains(doc.Context, ctx) {
			doc.Context = append(doc.Context, ctx)
		}
		doc.VerificationMethod = append(doc.VerificationMethod, VerificationMethod{
			ID:                 d.DID + fragmentSep + id,
			Type:               multikeyType,
			Controller:         d.DID,
			PublicKeyMultibase: strings.TrimPrefix(didKey, didKeyTrimPrefix),
		})
	}
	for _, id := range slices.Sorted(maps.Keys(d.Services)) {
		s := d.Services[id]
		doc.Service = append(doc.Service, DocumentService{
			ID:              fragmentSep + id,
			Type:            s.Type,
			ServiceEndpoint: s.Endpoint,
		})
	}
	return doc, nil
}
