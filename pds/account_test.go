package pds

import (
	"net/http"
	"testing"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo/mst"
)

// Account creation registers the DID with the PLC directory (resolvable
// with the new signing key and this host as PDS) and emits #identity,
// #account(active), then the empty first #commit, in that order.
func TestCreateAccountEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	chk := newChecker(t, e.resolver)
	e.consume(chk, 0)
	did, _ := e.account("alice.test")

	waitFor(t, "3 events", func() bool { chk.mu.Lock(); defer chk.mu.Unlock(); return len(chk.frames) >= 3 })
	chk.mu.Lock()
	defer chk.mu.Unlock()
	if len(chk.failures) > 0 {
		t.Fatalf("checker: %v", chk.failures)
	}
	idEv, ok := chk.frames[0].Msg.(*firehose.Identity)
	if !ok || idEv.DID != did || idEv.Handle != "alice.test" {
		t.Fatalf("first event %#v, want #identity of %s", chk.frames[0].Msg, did)
	}
	acEv, ok := chk.frames[1].Msg.(*firehose.Account)
	if !ok || acEv.DID != did || !acEv.Active || acEv.Status != "" {
		t.Fatalf("second event %#v, want #account active", chk.frames[1].Msg)
	}
	cm, ok := chk.frames[2].Msg.(*firehose.Commit)
	if !ok || cm.Repo != did || len(cm.Ops) != 0 || cm.Since != "" || cm.PrevData.Defined() {
		t.Fatalf("third event %#v, want the empty first #commit", chk.frames[2].Msg)
	}
	if got := chk.lastData[did]; got != mst.EmptyRoot.String() {
		t.Fatalf("first commit data %s, want the empty tree", got)
	}
	id, err := e.resolver.Resolve(t.Context(), did)
	if err != nil {
		t.Fatal(err)
	}
	if ep, err := id.PDSEndpoint(); err != nil || ep != e.url {
		t.Fatalf("PDS endpoint %q (%v), want %q", ep, err, e.url)
	}
	if id.Handle != "alice.test" {
		t.Fatalf("handle %q", id.Handle)
	}
	// The same handle again, and one outside the host's domains, are refused.
	for _, tc := range []struct{ handle, name string }{
		{"alice.test", "HandleNotAvailable"},
		{"ALICE.test", "HandleNotAvailable"},
		{"bob.example.com", "UnsupportedDomain"},
		{"a.b.test", "UnsupportedDomain"},
		{"not a handle", "InvalidHandle"},
	} {
		status, name, _ := e.xrpc("POST", "com.atproto.server.createAccount", "", map[string]string{"handle": tc.handle, "password": "x"}, nil)
		if status != http.StatusBadRequest || name != tc.name {
			t.Errorf("createAccount %q: %d %s, want 400 %s", tc.handle, status, name, tc.name)
		}
	}
}
