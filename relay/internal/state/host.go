package state

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Host statuses (the lexicon's hostStatus values).
const (
	HostActive    = "active"
	HostIdle      = "idle"
	HostOffline   = "offline"
	HostThrottled = "throttled"
	HostBanned    = "banned"
)

// Host is one upstream host.
type Host struct {
	Hostname string `json:"hostname"`
	// NoSSL: dial ws:// instead of wss:// (development hosts only).
	NoSSL  bool   `json:"noSSL,omitempty"`
	Status string `json:"status"`
	// Reason says why a host is not active (a stop reason and the error),
	// for operators; empty when active.
	Reason string `json:"reason,omitempty"`
	// Lenient turns MST inversion failures into counted warnings.
	Lenient bool `json:"lenient,omitempty"`
	// AccountLimit caps the host's active accounts; new ones beyond it are
	// host-throttled.
	AccountLimit int64 `json:"accountLimit"`
	AccountCount int64 `json:"accountCount"`
	// Seq is the last upstream seq processed (informational; the resume
	// cursor itself is the durable consumer's checkpoint).
	Seq int64 `json:"seq"`
	// Backfill: without a stored cursor, start at cursor 0, not live.
	Backfill bool `json:"backfill,omitempty"`
	// ID orders hosts for listHosts.
	ID int64 `json:"id"`
}

// GetHost reads a host.
func GetHost(r pebble.Reader, hostname string) (*Host, error) {
	var h Host
	if err := getJSON(r, hostKey(hostname), &h); err != nil {
		return nil, fmt.Errorf("host %s: %w", hostname, err)
	}
	return &h, nil
}

// PutHost writes h.
func PutHost(w pebble.Writer, h *Host) error { return putJSON(w, hostKey(h.Hostname), h) }

// ListHosts returns every host in hostname order.
func ListHosts(r pebble.Reader) ([]*Host, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixHost}, UpperBound: upperBound(prefixHost)})
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	defer it.Close()
	var out []*Host
	for it.First(); it.Valid(); it.Next() {
		var h Host
		if err := unmarshal(it.Value(), &h); err != nil {
			return nil, fmt.Errorf("list hosts: %q: %w", it.Key(), err)
		}
		out = append(out, &h)
	}
	return out, it.Error()
}

// BanDomain records a domain ban (a hostname or a suffix of hostnames).
func BanDomain(w pebble.Writer, domain string) error {
	return w.Set(domainBanKey(domain), nil, pebble.NoSync)
}

// UnbanDomain removes a domain ban.
func UnbanDomain(w pebble.Writer, domain string) error {
	return w.Delete(domainBanKey(domain), pebble.NoSync)
}

// DomainBans lists the banned domains.
func DomainBans(r pebble.Reader) ([]string, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDomainBan}, UpperBound: upperBound(prefixDomainBan)})
	if err != nil {
		return nil, fmt.Errorf("list domain bans: %w", err)
	}
	defer it.Close()
	var out []string
	for it.First(); it.Valid(); it.Next() {
		out = append(out, string(it.Key()[1:]))
	}
	return out, it.Error()
}
