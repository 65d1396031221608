package state

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func openDB(t *testing.T) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPublicStatus is the recomputation of §5.4: local and upstream status
// give the public active flag and status.
func TestPublicStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		local, upstream string
		upActive        bool
		active          bool
		status          string
	}{
		{LocalActive, LocalActive, true, true, ""},
		{LocalTakendown, LocalActive, true, false, "takendown"},
		{LocalSuspended, LocalActive, true, false, "suspended"},
		{LocalHostThrottled, LocalActive, true, false, "throttled"},
		{LocalActive, "deactivated", false, false, "deactivated"},
		{LocalActive, "deleted", false, false, "deleted"},
		{LocalActive, UpstreamInactive, false, false, ""},
		{LocalActive, "desynchronized", true, true, "desynchronized"},
		{LocalTakendown, "deleted", false, false, "takendown"},
	}
	for _, c := range cases {
		a := Account{Local: c.local, Upstream: c.upstream, UpstreamActive: c.upActive}
		if a.Active() != c.active || a.Status() != c.status {
			t.Errorf("%s/%s: active %v status %q, want %v %q", c.local, c.upstream, a.Active(), a.Status(), c.active, c.status)
		}
	}
}

func TestAccountsAndLocal(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	if _, err := GetAccount(db, "did:plc:x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing account: %v", err)
	}
	for _, did := range []string{"did:plc:b", "did:plc:a", "did:plc:c"} {
		if err := PutAccount(db, &Account{DID: did, Rev: "r", Upstream: LocalActive, UpstreamActive: true}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := ListAccounts(db, "did:plc:a", func(a *Account) bool { got = append(got, a.DID); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "did:plc:b" || got[1] != "did:plc:c" {
		t.Errorf("accounts after a: %v", got)
	}
	if s, _ := GetLocal(db, "did:plc:a"); s != LocalActive {
		t.Errorf("default local %q", s)
	}
	if err := SetLocal(db, "did:plc:a", LocalTakendown); err != nil {
		t.Fatal(err)
	}
	if s, _ := GetLocal(db, "did:plc:a"); s != LocalTakendown {
		t.Errorf("local %q", s)
	}
	// The record write of an ingester does not touch the local status.
	if err := PutAccount(db, &Account{DID: "did:plc:a", Local: LocalActive}); err != nil {
		t.Fatal(err)
	}
	if s, _ := GetLocal(db, "did:plc:a"); s != LocalTakendown {
		t.Errorf("local after record write %q", s)
	}
	if err := SetLocal(db, "did:plc:a", LocalActive); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := ListLocal(db, func(string, string) { n++ }); err != nil || n != 0 {
		t.Errorf("local statuses after reverse: %d %v", n, err)
	}
}

func TestHostsAndBans(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	for _, h := range []string{"b.example", "a.example"} {
		if err := PutHost(db, &Host{Hostname: h, Status: HostActive}); err != nil {
			t.Fatal(err)
		}
	}
	hs, err := ListHosts(db)
	if err != nil || len(hs) != 2 || hs[0].Hostname != "a.example" {
		t.Fatalf("hosts %v %v", hs, err)
	}
	if err := BanDomain(db, "evil.example"); err != nil {
		t.Fatal(err)
	}
	bans, _ := DomainBans(db)
	if len(bans) != 1 || bans[0] != "evil.example" {
		t.Errorf("bans %v", bans)
	}
	if err := UnbanDomain(db, "evil.example"); err != nil {
		t.Fatal(err)
	}
	if bans, _ = DomainBans(db); len(bans) != 0 {
		t.Errorf("bans after unban %v", bans)
	}
}
