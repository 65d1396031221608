package pds

import (
	"errors"
	"net/http"
	"testing"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// Deactivation, reactivation and deletion emit the spec's events in order,
// and writes and exports follow the account's status.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	chk := newChecker(t, e.resolver)
	e.consume(chk, 0)
	did, auth := e.account("life.test")
	e.mustXRPC("POST", "com.atproto.repo.createRecord", auth, map[string]any{"repo": did, "collection": "app.bsky.feed.post", "record": post("x")}, nil)
	start := e.pds.events.Head()

	e.mustXRPC("POST", "com.atproto.server.deactivateAccount", auth, map[string]any{}, nil)
	// Deactivating twice changes nothing.
	e.mustXRPC("POST", "com.atproto.server.deactivateAccount", auth, map[string]any{}, nil)
	if status, name, _ := e.xrpc("POST", "com.atproto.repo.createRecord", auth, map[string]any{"repo": did, "collection": "app.bsky.feed.post", "record": post("y")}, nil); status != http.StatusBadRequest || name != "RepoDeactivated" {
		t.Fatalf("write while deactivated: %d %s", status, name)
	}
	if _, err := e.pds.UploadBlob(t.Context(), did, "text/plain", []byte("x")); !errors.Is(err, ErrRepoDeactivated) {
		t.Fatalf("upload while deactivated: %v", err)
	}
	for _, m := range []string{"com.atproto.sync.getRepo", "com.atproto.sync.getLatestCommit"} {
		if status, name, _ := e.xrpc("GET", m+"?did="+did, "", nil, nil); status != http.StatusBadRequest || name != "RepoDeactivated" {
			t.Fatalf("%s while deactivated: %d %s", m, status, name)
		}
	}
	var st struct {
		Active bool
		Status string
	}
	e.mustXRPC("GET", "com.atproto.sync.getRepoStatus?did="+did, "", nil, &st)
	if st.Active || st.Status != "deactivated" {
		t.Fatalf("getRepoStatus while deactivated: %+v", st)
	}
	// The session still works (to reactivate).
	e.mustXRPC("POST", "com.atproto.server.activateAccount", auth, nil, nil)
	e.mustXRPC("POST", "com.atproto.repo.createRecord", auth, map[string]any{"repo": did, "collection": "app.bsky.feed.post", "record": post("z")}, nil)

	// Deletion needs the password (or admin).
	if status, name, _ := e.xrpc("POST", "com.atproto.server.deleteAccount", "", map[string]any{"did": did, "password": "wrong"}, nil); status != http.StatusUnauthorized || name != "AuthenticationRequired" {
		t.Fatalf("delete with a wrong password: %d %s", status, name)
	}
	e.mustXRPC("POST", "com.atproto.server.deleteAccount", "", map[string]any{"did": did, "password": "pw-life.test"}, nil)
	if status, name, _ := e.xrpc("GET", "com.atproto.sync.getRepoStatus?did="+did, "", nil, nil); status != http.StatusBadRequest || name != "RepoNotFound" {
		t.Fatalf("getRepoStatus after delete: %d %s", status, name)
	}
	if _, err := e.pds.ApplyWrites(t.Context(), did, []Write{{Action: repo.Create, Collection: "app.bsky.feed.post", Value: post("x")}}, cid.Undef); !errors.Is(err, ErrRepoNotFound) {
		t.Fatalf("write after delete: %v", err)
	}
	// The handle is free again, for a new DID.
	did2, _ := e.account("life.test")
	if did2 == did {
		t.Fatal("same DID after re-creating the handle")
	}

	waitFor(t, "events", func() bool { chk.mu.Lock(); defer chk.mu.Unlock(); return chk.lastSeq == e.pds.events.Head() })
	chk.mu.Lock()
	defer chk.mu.Unlock()
	if len(chk.failures) > 0 {
		t.Fatalf("checker: %v", chk.failures)
	}
	type evt struct {
		typ    string
		active bool
		status string
		ops    int
	}
	var got []evt
	var reactivation *firehose.Commit
	for i, s := range chk.seqs {
		if s <= start {
			continue
		}
		switch m := chk.frames[i].Msg.(type) {
		case *firehose.Account:
			if m.DID == did {
				got = append(got, evt{typ: "account", active: m.Active, status: m.Status})
			}
		case *firehose.Commit:
			if m.Repo == did {
				got = append(got, evt{typ: "commit", ops: len(m.Ops)})
				if reactivation == nil && len(m.Ops) == 0 {
					reactivation = m
				}
			}
		}
	}
	want := []evt{
		{typ: "account", status: "deactivated"},
		{typ: "account", active: true},
		{typ: "commit", ops: 0},
		{typ: "commit", ops: 1},
		{typ: "account", status: "deleted"},
	}
	if len(got) != len(want) {
		t.Fatalf("events %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: %+v, want %+v (all: %+v)", i, got[i], want[i], got)
		}
	}
	// The reactivation commit is empty and continues the chain (the
	// checker saw since and prevData match): its data is its prevData.
	cc, err := repo.CheckCommitProof(reactivation.Evidence(), car.CommitLimits())
	if err != nil || !reactivation.PrevData.Defined() || cc.Commit.Data != reactivation.PrevData {
		t.Fatalf("reactivation commit: %v, data vs prevData %s", err, reactivation.PrevData)
	}
}

// Sessions: createSession, getSession, a refresh token usable once,
// deleteSession.
func TestSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	did, _ := e.account("sess.test")
	var s session
	e.mustXRPC("POST", "com.atproto.server.createSession", "", map[string]string{"identifier": "sess.test", "password": "pw-sess.test"}, &s)
	if s.DID != did || !s.Active {
		t.Fatalf("createSession %+v", s)
	}
	if status, name, _ := e.xrpc("POST", "com.atproto.server.createSession", "", map[string]string{"identifier": did, "password": "nope"}, nil); status != http.StatusUnauthorized || name != "AuthenticationRequired" {
		t.Fatalf("bad password: %d %s", status, name)
	}
	var gs struct{ DID, Handle string }
	e.mustXRPC("GET", "com.atproto.server.getSession", "Bearer "+s.AccessJwt, nil, &gs)
	if gs.DID != did || gs.Handle != "sess.test" {
		t.Fatalf("getSession %+v", gs)
	}
	var s2 session
	e.mustXRPC("POST", "com.atproto.server.refreshSession", "Bearer "+s.RefreshJwt, nil, &s2)
	if status, name, _ := e.xrpc("POST", "com.atproto.server.refreshSession", "Bearer "+s.RefreshJwt, nil, nil); status != http.StatusBadRequest || name != "ExpiredToken" {
		t.Fatalf("reused refresh token: %d %s", status, name)
	}
	if status, name, _ := e.xrpc("POST", "com.atproto.server.refreshSession", "Bearer "+s2.AccessJwt, nil, nil); status != http.StatusBadRequest || name != "InvalidToken" {
		t.Fatalf("access token as refresh: %d %s", status, name)
	}
	e.mustXRPC("POST", "com.atproto.server.deleteSession", "Bearer "+s2.RefreshJwt, nil, nil)
	if status, _, _ := e.xrpc("POST", "com.atproto.server.refreshSession", "Bearer "+s2.RefreshJwt, nil, nil); status != http.StatusBadRequest {
		t.Fatalf("refresh after deleteSession: %d", status)
	}
	// Access tokens expire after two hours.
	e.now.Store(int64(AccessTTL.Seconds()) + 1)
	if status, name, _ := e.xrpc("GET", "com.atproto.server.getSession", "Bearer "+s2.AccessJwt, nil, nil); status != http.StatusBadRequest || name != "ExpiredToken" {
		t.Fatalf("expired access token: %d %s", status, name)
	}
	// Admin credentials in both forms.
	for _, a := range []string{e.admin(), "Basic YWRtaW46YWRtaW4tc2VjcmV0"} {
		e.mustXRPC("POST", "com.atproto.repo.createRecord", a, map[string]any{"repo": did, "collection": "app.bsky.feed.post", "record": post("by admin")}, nil)
	}
}
