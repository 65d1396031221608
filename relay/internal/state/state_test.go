package state

import (
	"strings"

	"errors"
	"github.com/conflux-atproto/conflux/repo/cid"
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

// TestAccountRecord: the binary record round-trips every field, and a JSON
// record written before it still reads.
func TestAccountRecord(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	c1 := cid.Sum(cid.DagCBOR, []byte("commit"))
	c2 := cid.Sum(cid.DagCBOR, []byte("data"))
	want := Account{DID: "did:plc:a", UID: 7, Host: "pds.example", Rev: "3kabc", Commit: c1, Data: c2,
		Upstream: "deactivated", UpstreamActive: false, Breaks: 3}
	if err := PutAccount(db, &want); err != nil {
		t.Fatal(err)
	}
	got, err := GetAccount(db, want.DID)
	if err != nil || *got != want {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, want)
	}
	empty := Account{DID: "did:plc:b", Upstream: LocalActive, UpstreamActive: true}
	if err := PutAccount(db, &empty); err != nil {
		t.Fatal(err)
	}
	if got, err := GetAccount(db, empty.DID); err != nil || *got != empty {
		t.Fatalf("empty round trip: %+v %v", got, err)
	}
	legacy := `{"did":"did:plc:c","host":"h","rev":"3kx","commit":"` + c1.String() + `","data":"` + c2.String() + `","upstream":"active","upstreamActive":true,"breaks":2}`
	if err := db.Set(accountKey("did:plc:c"), []byte(legacy), nil); err != nil {
		t.Fatal(err)
	}
	got, err = GetAccount(db, "did:plc:c")
	if err != nil || got.Commit != c1 || got.Data != c2 || got.Rev != "3kx" || !got.UpstreamActive || got.Breaks != 2 || got.UID != 0 {
		t.Fatalf("legacy record: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0x02}, {accountV1}, append(appendAccount(nil, &want), 0)} {
		if _, err := decodeAccount("did:plc:x", bad); err == nil {
			t.Errorf("decoded malformed record %x", bad)
		}
	}
}

// TestUIDs: legacy accounts get UIDs in DID order after the indexed ones,
// and ListAccountsByUID pages in UID order.
func TestUIDs(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	if n, err := NextUID(db); err != nil || n != 1 {
		t.Fatalf("empty next uid %d %v", n, err)
	}
	a := &Account{DID: "did:plc:z", UID: 1, Upstream: LocalActive}
	if err := PutAccount(db, a); err != nil || IndexAccount(db, a) != nil {
		t.Fatal(err)
	}
	for _, did := range []string{"did:plc:b", "did:plc:a"} {
		if err := PutAccount(db, &Account{DID: did, Upstream: LocalActive}); err != nil {
			t.Fatal(err)
		}
	}
	next, err := AssignUIDs(db)
	if err != nil || next != 4 {
		t.Fatalf("assign: next %d %v", next, err)
	}
	var order []string
	if err := ListAccountsByUID(db, 0, func(a *Account) bool { order = append(order, a.DID); return true }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, " ") != "did:plc:z did:plc:a did:plc:b" {
		t.Errorf("uid order %v", order)
	}
	order = nil
	if err := ListAccountsByUID(db, 2, func(a *Account) bool { order = append(order, a.DID); return true }); err != nil || len(order) != 1 || order[0] != "did:plc:b" {
		t.Errorf("after uid 2: %v %v", order, err)
	}
}
