package pds

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/conflux-atproto/conflux/identity/plc"
	"github.com/conflux-atproto/conflux/repo/crypto"
)

// plcClient registers new did:plc identities with the configured directory.
type plcClient struct {
	c *plc.Client
}

func newPLCClient(cfg Config) (*plcClient, error) {
	base := cfg.PLCURL
	if base == "" {
		base = "https://plc.directory"
	}
	return &plcClient{c: &plc.Client{BaseURL: strings.TrimSuffix(base, "/"), HTTPClient: cfg.HTTPClient}}, nil
}

// newDID creates the DID of a new account whose signing key is key: a
// did:plc registered with the directory (rotation key: the host's), or a
// did:web named after the handle.
func (p *PDS) newDID(ctx context.Context, handle string, key crypto.PrivateKey) (string, error) {
	if p.cfg.DIDMethod == DIDMethodWeb {
		return "did:web:" + handle, nil
	}
	did, op, err := plc.CreateGenesis([]crypto.PublicKey{p.rotation.Public()}, key.Public(), handle, p.cfg.PublicURL, p.rotation)
	if err != nil {
		return "", fmt.Errorf("%w: genesis: %w", ErrPLC, err)
	}
	if err := p.plc.c.Submit(ctx, did, op); err != nil {
		return "", fmt.Errorf("%w: register %s: %w", ErrPLC, did, err)
	}
	return did, nil
}

// didDocument is the DID document this host serves for a did:web account,
// and what createAccount returns as didDoc.
type didDocument struct {
	Context            []string             `json:"@context"`
	ID                 string               `json:"id"`
	AlsoKnownAs        []string             `json:"alsoKnownAs"`
	VerificationMethod []verificationMethod `json:"verificationMethod"`
	Service            []didService         `json:"service"`
}

type verificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

type didService struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	ServiceEndpoint string `json:"serviceEndpoint"`
}

func (p *PDS) didDoc(acct *accountRec, pub crypto.PublicKey) didDocument {
	return didDocument{
		Context: []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1",
			"https://w3id.org/security/suites/secp256k1-2019/v1"},
		ID:          acct.DID,
		AlsoKnownAs: []string{"at://" + acct.Handle},
		VerificationMethod: []verificationMethod{{
			ID: acct.DID + "#atproto", Type: crypto.VerificationMethodMultikey,
			Controller: acct.DID, PublicKeyMultibase: pub.Multibase(),
		}},
		Service: []didService{{ID: "#atproto_pds", Type: plc.PDSType, ServiceEndpoint: p.cfg.PublicURL}},
	}
}

func (d didDocument) json() json.RawMessage {
	b, _ := json.Marshal(d) // plain strings: cannot fail
	return b
}
