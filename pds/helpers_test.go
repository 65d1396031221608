package pds

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/identity/plc"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
)

// env is a PDS on a real HTTP server at a fixed 127.0.0.1 address (so it can
// be restarted behind the same URL), with a real development PLC directory.
type env struct {
	t        testing.TB
	dir      string
	url      string
	plcURL   string
	cfg      Config
	handler  atomic.Pointer[http.Handler]
	resolver *identity.Cache
	now      atomic.Int64 // offset added to the wall clock, in seconds

	pds    *PDS
	cancel context.CancelFunc
	done   chan error
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	dirStore, err := plc.NewDirectory(plc.DirectoryConfig{Dir: t.TempDir(), NoSync: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	plcSrv := httptest.NewServer(dirStore)
	t.Cleanup(func() { plcSrv.Close(); _ = dirStore.Close() })
	e.plcURL = plcSrv.URL

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := e.handler.Load()
		if h == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	e.url = srv.URL

	e.cfg = Config{
		DataDir: e.dir, PublicURL: e.url, PLCURL: e.plcURL, HandleDomains: []string{".test"},
		AdminPassword: "admin-secret", BcryptCost: 4, NoSync: true, Logger: quietLogger(),
		Now: func() time.Time { return time.Now().Add(time.Duration(e.now.Load()) * time.Second) },
	}
	if mod != nil {
		mod(&e.cfg)
	}
	res, err := identity.NewResolver(identity.Config{PLCURL: e.plcURL, DevLocalhost: true,
		WebHosts: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	e.resolver, err = identity.NewCache(res, identity.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start opens the PDS in the env's directory and runs it.
func (e *env) start() {
	e.t.Helper()
	p, err := New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.pds, e.cancel, e.done = p, cancel, make(chan error, 1)
	go func() { e.done <- p.Run(ctx) }()
	waitCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	select {
	case <-p.ready:
	case err := <-e.done:
		e.t.Fatalf("Run: %v", err)
	case <-waitCtx.Done():
		e.t.Fatal("PDS did not become ready")
	}
	h := p.Handler()
	e.handler.Store(&h)
}

// stop stops Run and closes the PDS; a second call does nothing.
func (e *env) stop() {
	if e.pds == nil {
		return
	}
	e.handler.Store(nil)
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("Run: %v", err)
	}
	if err := e.pds.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	e.pds = nil
}

func (e *env) restart() {
	e.stop()
	e.start()
}

// xrpc calls a method and decodes the JSON answer into out (if non-nil).
// It returns the status and, for errors, the XRPC error name.
func (e *env) xrpc(method, name, auth string, in any, out any) (int, string, string) {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+"/xrpc/"+name, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		var xe struct{ Error, Message string }
		if err := json.Unmarshal(raw, &xe); err != nil {
			e.t.Fatalf("%s: status %d, body %q is not an XRPC error", name, resp.StatusCode, raw)
		}
		return resp.StatusCode, xe.Error, xe.Message
	}
	if out != nil {
		if b, ok := out.(*[]byte); ok {
			*b = raw
		} else if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s: decode %q: %v", name, raw, err)
		}
	}
	return resp.StatusCode, "", ""
}

// mustXRPC is xrpc that fails the test on an error answer.
func (e *env) mustXRPC(method, name, auth string, in any, out any) {
	e.t.Helper()
	if status, xe, msg := e.xrpc(method, name, auth, in, out); status != http.StatusOK {
		e.t.Fatalf("%s: %d %s: %s", name, status, xe, msg)
	}
}

func (e *env) admin() string { return "Bearer " + e.cfg.AdminPassword }

// account creates an account over XRPC and returns its DID and access token.
func (e *env) account(handle string) (string, string) {
	e.t.Helper()
	var out struct{ DID, AccessJwt string }
	e.mustXRPC("POST", "com.atproto.server.createAccount", "", map[string]string{
		"handle": handle, "password": "pw-" + handle, "email": handle + "@example.com",
	}, &out)
	return out.DID, "Bearer " + out.AccessJwt
}

// post is a valid app.bsky.feed.post record.
func post(text string) map[string]any {
	return map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-02T03:04:05.000Z"}
}

// checker verifies every #commit of a stream as a sync 1.1 receiver does:
// the proof, the signature with the key resolved through identity, and
// chain continuity per repo. It records everything it saw.
type checker struct {
	t   *testing.T
	res identity.DIDResolver

	mu       sync.Mutex
	lastSeq  int64
	seqs     []int64
	frames   []firehose.Frame
	commits  map[int64]*firehose.Commit // by seq
	lastRev  map[string]string
	lastData map[string]string
	failures []string
}

func newChecker(t *testing.T, res identity.DIDResolver) *checker {
	return &checker{t: t, res: res, commits: map[int64]*firehose.Commit{},
		lastRev: map[string]string{}, lastData: map[string]string{}}
}

func (c *checker) fail(format string, args ...any) {
	c.failures = append(c.failures, fmt.Sprintf(format, args...))
}

func (c *checker) HandleEvent(ctx context.Context, ev consumer.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Seq <= c.lastSeq {
		c.fail("seq %d after %d", ev.Seq, c.lastSeq)
	}
	c.lastSeq = ev.Seq
	c.seqs = append(c.seqs, ev.Seq)
	c.frames = append(c.frames, ev.Frame)
	cm, ok := ev.Frame.Msg.(*firehose.Commit)
	if !ok {
		return nil
	}
	c.commits[ev.Seq] = cm
	checked, err := repo.CheckCommitProof(cm.Evidence(), car.CommitLimits())
	if err != nil {
		c.fail("seq %d: proof: %v", ev.Seq, err)
		return nil
	}
	id, err := c.res.Resolve(ctx, cm.Repo)
	if err != nil {
		c.fail("seq %d: resolve %s: %v", ev.Seq, cm.Repo, err)
		return nil
	}
	pub, err := id.PublicKey()
	if err != nil {
		c.fail("seq %d: key of %s: %v", ev.Seq, cm.Repo, err)
		return nil
	}
	if err := checked.Commit.VerifySignature(pub); err != nil {
		c.fail("seq %d: signature: %v", ev.Seq, err)
	}
	if prev, seen := c.lastRev[cm.Repo]; seen {
		if cm.Since != prev || cm.PrevData.String() != c.lastData[cm.Repo] || cm.Rev <= prev {
			c.fail("seq %d: chain of %s: since %s prevData %s rev %s, want since %s prevData %s",
				ev.Seq, cm.Repo, cm.Since, cm.PrevData, cm.Rev, prev, c.lastData[cm.Repo])
		}
	} else if cm.PrevData.Defined() && cm.Since == "" {
		c.fail("seq %d: first commit of %s has prevData", ev.Seq, cm.Repo)
	}
	c.lastRev[cm.Repo] = cm.Rev
	c.lastData[cm.Repo] = checked.Commit.Data.String()
	return nil
}

// consume runs a consumer of the env's stream from cursor until stop is
// called; stop returns the consumer's Run error.
func (e *env) consume(h consumer.Handler, cursor int64) (*consumer.Consumer, func() error) {
	e.t.Helper()
	c, err := consumer.New(consumer.Config{URL: e.url, Cursor: cursor, Handler: h,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	e.t.Cleanup(func() { _ = stop() })
	return c, stop
}

// waitFor polls cond until it holds or 60 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// webResolver resolves did:web:<host> for the given hosts against the env's
// server, through a reverse proxy per host that sets the Host header as a
// real deployment's front end would.
func (e *env) webResolver(t *testing.T, hosts ...string) identity.DIDResolver {
	t.Helper()
	target, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, h := range hosts {
		proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = h
		}}
		srv := httptest.NewServer(proxy)
		t.Cleanup(srv.Close)
		m[h] = srv.URL
	}
	res, err := identity.NewResolver(identity.Config{WebHosts: m, DevLocalhost: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
