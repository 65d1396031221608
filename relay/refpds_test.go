package relay

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/relay/internal/state"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// syncOf is the #sync announcing the state ev committed: a CAR of just the
// commit block.
func syncOf(t *testing.T, ev *firehose.Commit) *firehose.Sync {
	t.Helper()
	_, blocks := parseEventCommit(t, ev)
	slice := car.Encode([]cid.CID{ev.Commit}, []car.Block{{CID: ev.Commit, Data: blocks[ev.Commit]}})
	return &firehose.Sync{DID: ev.Repo, Rev: ev.Rev, Blocks: slice, Time: ev.Time}
}

// TestReferenceAccountLifecycle feeds what the reference PDS (the TypeScript
// @atproto/pds) emits for a new account (#identity, #account, an empty
// #commit without prevData, a #sync of that commit) and, on reactivation, a
// #sync of the state the relay already holds. Strict mode must pass every
// one on, drop nothing, and keep the chain: the commit after it is no
// discontinuity.
func TestReferenceAccountLifecycle(t *testing.T) {
	t.Parallel()
	a := newTestRepo(t, 1)
	empty := a.commit(t, a.nextRev(), nil, a.key)
	if empty.PrevData.Defined() || empty.Since != "" {
		t.Fatal("the first commit must have neither prevData nor since")
	}
	post := a.create(t)
	frames := [][]byte{
		frame(t, &firehose.Identity{DID: a.did, Handle: "alice.test", Time: empty.Time}, 1),
		frame(t, &firehose.Account{DID: a.did, Active: true, Time: empty.Time}, 2),
		frame(t, empty, 3),
		frame(t, syncOf(t, empty), 4),
		frame(t, post, 5),
		frame(t, &firehose.Account{DID: a.did, Active: false, Status: "deactivated", Time: post.Time}, 6),
		frame(t, &firehose.Account{DID: a.did, Active: true, Time: post.Time}, 7),
		frame(t, &firehose.Identity{DID: a.did, Handle: "alice.test", Time: post.Time}, 8),
		frame(t, syncOf(t, post), 9),
		frame(t, a.create(t), 10),
	}
	host := newFrameHost(t, frames)
	plc := newPLC(t)
	plc.set(a.did, "alice.test", a.key.Public().Multibase(), host.URL)
	r := startRelay(t, Config{PLCURL: plc.URL})
	if err := r.AddHost(t.Context(), "ws://"+host.hostname(), HostOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHostCursor(t, r, host.hostname(), 10)
	got := emitted(t, r)
	drops, warnings := r.Counts()
	if len(got) != len(frames) || len(drops) > 0 || len(warnings) > 0 {
		t.Fatalf("relay emitted %d of %d events; drops %v, warnings %v", len(got), len(frames), drops, warnings)
	}
	for i, ev := range got {
		f, err := firehose.DecodeFrame(ev.Frame)
		if err != nil {
			t.Fatal(err)
		}
		want, err := firehose.DecodeFrame(frames[i])
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != want.Type {
			t.Errorf("event %d: %s, want %s", i, f.Type, want.Type)
		}
	}
}

// TestDevPortlessLocalhostCrawl: the reference PDS in development mode asks
// for a crawl of plain "localhost" (its configured hostname, no port). A
// development relay accepts the request without subscribing to anything it
// could not dial; a production relay still refuses localhost.
func TestDevPortlessLocalhostCrawl(t *testing.T) {
	t.Parallel()
	dev, err := New(Config{DataDir: t.TempDir(), Dev: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	req := httptest.NewRequest(http.MethodPost, "/xrpc/com.atproto.sync.requestCrawl", strings.NewReader(`{"hostname":"localhost"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	dev.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("requestCrawl localhost: %d %s", rec.Code, rec.Body)
	}
	hosts, err := state.ListHosts(dev.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 0 {
		t.Errorf("a portless localhost became host %q", hosts[0].Hostname)
	}
	prod, err := New(Config{DataDir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prod.Close() })
	if err := prod.RequestCrawl(t.Context(), "localhost"); err == nil {
		t.Error("a production relay accepted localhost")
	}
}
