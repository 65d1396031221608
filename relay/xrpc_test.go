package relay

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
)

// call runs a request through the relay's handler and decodes JSON into out.
func call(t *testing.T, h http.Handler, method, path, body string, auth bool, out any) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.SetBasicAuth("admin", "pw")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, rec.Code, rec.Body.String(), err)
		}
	}
	return rec
}

// TestXRPC runs the sync endpoints and the admin API against one account.
func TestXRPC(t *testing.T) {
	t.Parallel()
	plc := newPLC(t)
	a := newTestRepo(t, 7)
	ev := a.create(t)
	host := newFrameHost(t, [][]byte{frame(t, ev, 1)})
	plc.set(a.did, "", a.key.Public().Multibase(), host.URL)
	r := startRelay(t, Config{PLCURL: plc.URL, AdminPassword: "pw"})
	if err := r.AddHost(t.Context(), "ws://"+host.hostname(), HostOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHostCursor(t, r, host.hostname(), 1)
	h := r.Handler()

	rec := call(t, h, "GET", "/xrpc/_health", "", false, nil)
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Server"), "atproto-relay") {
		t.Errorf("health: %d, Server %q", rec.Code, rec.Header().Get("Server"))
	}
	var repos struct {
		Repos []repoEntry `json:"repos"`
	}
	call(t, h, "GET", "/xrpc/com.atproto.sync.listRepos", "", false, &repos)
	if len(repos.Repos) != 1 || repos.Repos[0].DID != a.did || repos.Repos[0].Head != ev.Commit.String() || repos.Repos[0].Rev != ev.Rev {
		t.Errorf("listRepos %+v", repos)
	}
	var latest map[string]string
	call(t, h, "GET", "/xrpc/com.atproto.sync.getLatestCommit?did="+a.did, "", false, &latest)
	if latest["cid"] != ev.Commit.String() || latest["rev"] != ev.Rev {
		t.Errorf("getLatestCommit %v", latest)
	}
	var xe map[string]string
	if rec := call(t, h, "GET", "/xrpc/com.atproto.sync.getLatestCommit?did=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz", "", false, &xe); rec.Code != 404 || xe["error"] != "RepoNotFound" {
		t.Errorf("unknown repo: %d %v", rec.Code, xe)
	}
	rec = call(t, h, "GET", "/xrpc/com.atproto.sync.getRepo?did="+a.did, "", false, nil)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "http://"+host.hostname()+"/xrpc/com.atproto.sync.getRepo?did="+a.did {
		t.Errorf("getRepo: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	var hosts struct {
		Hosts []hostEntry `json:"hosts"`
	}
	call(t, h, "GET", "/xrpc/com.atproto.sync.listHosts", "", false, &hosts)
	if len(hosts.Hosts) != 1 || hosts.Hosts[0].Hostname != host.hostname() || hosts.Hosts[0].Seq != 1 || hosts.Hosts[0].AccountCount != 1 {
		t.Errorf("listHosts %+v", hosts)
	}
	var hs hostEntry
	call(t, h, "GET", "/xrpc/com.atproto.sync.getHostStatus?hostname="+host.hostname(), "", false, &hs)
	if hs.Status != "active" {
		t.Errorf("getHostStatus %+v", hs)
	}

	// Admin: no password, then a takedown.
	if rec := call(t, h, "POST", "/admin/repo/takeDown", `{"did":"`+a.did+`"}`, false, nil); rec.Code != 401 {
		t.Errorf("takedown without password: %d", rec.Code)
	}
	head := r.Head()
	if rec := call(t, h, "POST", "/admin/repo/takeDown", `{"did":"`+a.did+`"}`, true, nil); rec.Code != 200 {
		t.Fatalf("takedown: %d %s", rec.Code, rec.Body)
	}
	checkAccountEvent(t, r, head, a.did, false, "takendown")
	if rec := call(t, h, "GET", "/xrpc/com.atproto.sync.getLatestCommit?did="+a.did, "", false, &xe); rec.Code != 403 || xe["error"] != "RepoTakendown" {
		t.Errorf("taken down: %d %v", rec.Code, xe)
	}
	var st map[string]any
	call(t, h, "GET", "/xrpc/com.atproto.sync.getRepoStatus?did="+a.did, "", false, &st)
	if st["active"] != false || st["status"] != "takendown" {
		t.Errorf("getRepoStatus %v", st)
	}
	call(t, h, "GET", "/xrpc/com.atproto.sync.listRepos", "", false, &repos)
	if len(repos.Repos) != 0 {
		t.Errorf("listRepos shows a taken-down repo: %+v", repos)
	}
	head = r.Head()
	if rec := call(t, h, "POST", "/admin/repo/reverseTakedown", `{"did":"`+a.did+`"}`, true, nil); rec.Code != 200 {
		t.Fatalf("reverse: %d", rec.Code)
	}
	checkAccountEvent(t, r, head, a.did, true, "")

	// Domain bans refuse new hosts.
	if rec := call(t, h, "POST", "/admin/subs/banDomain", `{"domain":"evil.example"}`, true, nil); rec.Code != 200 {
		t.Fatalf("banDomain: %d", rec.Code)
	}
	if rec := call(t, h, "POST", "/xrpc/com.atproto.sync.requestCrawl", `{"hostname":"pds.evil.example"}`, false, &xe); rec.Code != 400 || xe["error"] != "HostBanned" {
		t.Errorf("banned requestCrawl: %d %v", rec.Code, xe)
	}
}

// checkAccountEvent checks the one event after seq is the #account given.
func checkAccountEvent(t *testing.T, r *Relay, after int64, did string, active bool, status string) {
	t.Helper()
	evs, err := r.events.ReadFrom(after, nil, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events after %d: %d, %v", after, len(evs), err)
	}
	f, err := firehose.DecodeFrame(evs[0].Frame)
	if err != nil {
		t.Fatal(err)
	}
	acc, ok := f.Msg.(*firehose.Account)
	if !ok || acc.DID != did || acc.Active != active || acc.Status != status {
		t.Errorf("event %+v, want #account %s active=%v status=%q", f.Msg, did, active, status)
	}
}

// TestRequestCrawl: liveness, relay loops, and the SSRF guard.
func TestRequestCrawl(t *testing.T) {
	t.Parallel()
	alive := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/xrpc/com.atproto.server.describeServer" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"did":"did:web:x"}`)
	}))
	t.Cleanup(alive.Close)
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "indigo-relay/1 (atproto-relay)")
		io.WriteString(w, `{}`)
	}))
	t.Cleanup(loop.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(dead.Close)

	dev, err := New(Config{DataDir: t.TempDir(), Dev: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	if err := dev.RequestCrawl(t.Context(), alive.URL); err != nil {
		t.Errorf("live host: %v", err)
	}
	if err := dev.RequestCrawl(t.Context(), loop.URL); !errors.Is(err, ErrRelayLoop) {
		t.Errorf("relay: %v", err)
	}
	if err := dev.RequestCrawl(t.Context(), dead.URL); !errors.Is(err, ErrHostUnreachable) {
		t.Errorf("dead host: %v", err)
	}

	prod, err := New(Config{DataDir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prod.Close() })
	for _, h := range []string{alive.URL, "localhost", "https://127.0.0.1", "https://10.1.2.3", "https://[::1]", "https://pds.example.com:8443", "ws://pds.example.com"} {
		if err := prod.RequestCrawl(t.Context(), h); !errors.Is(err, ErrBadHost) && !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("production relay accepted %s: %v", h, err)
		}
	}
	// A public name that resolves to a private address is caught at dial time.
	if err := guardControl(false)("tcp", "192.168.1.1:443", nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("dial guard: %v", err)
	}
	if err := guardControl(false)("tcp", "8.8.8.8:443", nil); err != nil {
		t.Errorf("dial guard refused a public address: %v", err)
	}
}

// TestAccountLimit: a host over its account limit gets new accounts
// throttled (their commits dropped); raising the limit re-activates them with
// an #account event.
func TestAccountLimit(t *testing.T) {
	t.Parallel()
	plc := newPLC(t)
	a, b := newTestRepo(t, 11), newTestRepo(t, 12)
	host := newFrameHost(t, [][]byte{frame(t, a.create(t), 1), frame(t, b.create(t), 2)})
	plc.set(a.did, "", a.key.Public().Multibase(), host.URL)
	plc.set(b.did, "", b.key.Public().Multibase(), host.URL)
	r := startRelay(t, Config{PLCURL: plc.URL, DefaultAccountLimit: 1})
	if err := r.AddHost(t.Context(), "ws://"+host.hostname(), HostOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHostCursor(t, r, host.hostname(), 2)
	if drops, _ := r.Counts(); drops["account_throttled"] != 1 || r.Head() != 1 {
		t.Fatalf("drops %v, head %d; want one throttled drop and one event", drops, r.Head())
	}
	// The two accounts are processed in parallel: either may be the second.
	throttled := ""
	for _, did := range []string{a.did, b.did} {
		var st map[string]any
		call(t, r.Handler(), "GET", "/xrpc/com.atproto.sync.getRepoStatus?did="+did, "", false, &st)
		if st["status"] == "throttled" && st["active"] == false {
			throttled = did
		}
	}
	if throttled == "" {
		t.Fatal("no account reported throttled")
	}
	if err := r.SetAccountLimit(t.Context(), host.hostname(), 2); err != nil {
		t.Fatal(err)
	}
	checkAccountEvent(t, r, 1, throttled, true, "")
}

// TestHostOffline: a host that cannot be reached goes offline after
// MaxFailures connection attempts and stops being retried.
func TestHostOffline(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	hostname := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	r := startRelay(t, Config{MaxFailures: 3})
	if err := r.AddHost(t.Context(), "ws://"+hostname, HostOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "host offline", func() bool {
		var hs hostEntry
		call(t, r.Handler(), "GET", "/xrpc/com.atproto.sync.getHostStatus?hostname="+hostname, "", false, &hs)
		return hs.Status == "offline"
	})
	if r.ingester(hostname) != nil {
		t.Error("offline host still has an ingester")
	}
}

// TestUpstreamRecheck: a commit for an account the host last called
// deactivated makes the relay ask the host's getRepoStatus; the host says
// active (it missed sending #account), so the commit passes.
func TestUpstreamRecheck(t *testing.T) {
	t.Parallel()
	plc := newPLC(t)
	a := newTestRepo(t, 21)
	deact := &firehose.Account{DID: a.did, Active: false, Status: "deactivated", Time: "2026-01-01T00:00:00.000Z"}
	host := newFrameHost(t, [][]byte{frame(t, a.create(t), 1), frame(t, deact, 2), frame(t, a.create(t), 3)})
	host.repoStatus = `{"did":"` + a.did + `","active":true}`
	plc.set(a.did, "", a.key.Public().Multibase(), host.URL)
	r := startRelay(t, Config{PLCURL: plc.URL})
	if err := r.AddHost(t.Context(), "ws://"+host.hostname(), HostOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHostCursor(t, r, host.hostname(), 3)
	if drops, _ := r.Counts(); len(drops) != 0 || r.Head() != 3 {
		t.Errorf("drops %v, head %d; want none and 3 events", drops, r.Head())
	}
}

// TestIdentityHandle: #identity is passed on even from another host, with
// the handle kept only when the DID document declares the same one.
func TestIdentityHandle(t *testing.T) {
	t.Parallel()
	plc := newPLC(t)
	a, b := newTestRepo(t, 31), newTestRepo(t, 32)
	host := newFrameHost(t, [][]byte{
		frame(t, &firehose.Identity{DID: a.did, Handle: "alice.test", Time: "2026-01-01T00:00:00.000Z"}, 1),
		frame(t, &firehose.Identity{DID: b.did, Handle: "mallory.test", Time: "2026-01-01T00:00:00.000Z"}, 2),
	})
	plc.set(a.did, "alice.test", a.key.Public().Multibase(), host.URL)
	plc.set(b.did, "bob.test", b.key.Public().Multibase(), "https://elsewhere.example.com")
	r := startRelay(t, Config{PLCURL: plc.URL})
	if err := r.AddHost(t.Context(), "ws://"+host.hostname(), HostOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHostCursor(t, r, host.hostname(), 2)
	got := emitted(t, r)
	if len(got) != 2 {
		t.Fatalf("%d events, want 2", len(got))
	}
	// Different DIDs are processed in parallel: either may come first.
	want := map[string]string{a.did: "alice.test", b.did: ""}
	for _, ev := range got {
		f, err := firehose.DecodeFrame(ev.Frame)
		if err != nil {
			t.Fatal(err)
		}
		id := f.Msg.(*firehose.Identity)
		if h, ok := want[id.DID]; !ok || id.Handle != h {
			t.Errorf("%s: handle %q, want %q", id.DID, id.Handle, h)
		}
		delete(want, id.DID)
	}
}

// TestListConsumers: the admin API lists a connected subscriber.
func TestListConsumers(t *testing.T) {
	t.Parallel()
	r := startRelay(t, Config{AdminPassword: "pw"})
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	hdr := http.Header{"User-Agent": {"test-subscriber"}}
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/xrpc/com.atproto.sync.subscribeRepos", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var list []consumerInfo
	waitFor(t, "subscriber listed", func() bool {
		call(t, r.Handler(), "GET", "/admin/consumers/list", "", true, &list)
		return len(list) == 1
	})
	if list[0].UserAgent != "test-subscriber" {
		t.Errorf("consumer %+v", list[0])
	}
}

// TestListReposOrder: listRepos pages accounts in the order the relay first
// saw them (the reference relay's UID order), not in DID order, with a
// decimal cursor given only on a full page; a bad cursor is refused.
func TestListReposOrder(t *testing.T) {
	t.Parallel()
	plc := newPLC(t)
	// Arrival order c, b, a; DID order a, b, c.
	var repos []*testRepo
	var frames [][]byte
	for i, n := range []int{43, 42, 41} {
		tr := newTestRepo(t, n)
		repos = append(repos, tr)
		frames = append(frames, frame(t, tr.create(t), int64(i+1)))
	}
	host := newFrameHost(t, frames)
	for _, tr := range repos {
		plc.set(tr.did, "", tr.key.Public().Multibase(), host.URL)
	}
	// One worker: the accounts are created in arrival order.
	r := startRelay(t, Config{PLCURL: plc.URL, HostWorkers: 1})
	if err := r.AddHost(t.Context(), "ws://"+host.hostname(), HostOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHostCursor(t, r, host.hostname(), 3)
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		var out struct {
			Cursor string      `json:"cursor"`
			Repos  []repoEntry `json:"repos"`
		}
		path := "/xrpc/com.atproto.sync.listRepos?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if rec := call(t, r.Handler(), "GET", path, "", false, &out); rec.Code != 200 {
			t.Fatalf("page %d: %d", page, rec.Code)
		}
		for _, e := range out.Repos {
			got = append(got, e.DID)
		}
		if out.Cursor == "" {
			break
		}
		if _, err := strconv.ParseUint(out.Cursor, 10, 64); err != nil || page > 3 {
			t.Fatalf("cursor %q on page %d", out.Cursor, page)
		}
		cursor = out.Cursor
	}
	want := []string{repos[0].did, repos[1].did, repos[2].did}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("listRepos order\n got %v\nwant %v (arrival order)", got, want)
	}
	var xe map[string]string
	if rec := call(t, r.Handler(), "GET", "/xrpc/com.atproto.sync.listRepos?cursor="+repos[0].did, "", false, &xe); rec.Code != 400 || xe["error"] != "InvalidRequest" {
		t.Errorf("DID as cursor: %d %v", rec.Code, xe)
	}
}
