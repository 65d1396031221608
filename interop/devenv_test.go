package interop

// Part 2 of the interop suite: the reference PDS (from @atproto/dev-env) into
// our relay. devenv-network.mjs runs the reference PLC directory and PDS and
// makes activity with @atproto/api; this test runs our relay (strict mode),
// an appview and a feed generator on it, and checks that the relay re-emits
// every event the PDS emitted and that the indexes hold what the PDS holds.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/appview"
	"github.com/conflux-atproto/conflux/feedgen"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/relay"
)

// devenvWait bounds every wait on the reference network or on our services.
// It is a hang guard that fails with what was missing, not a speed check.
const devenvWait = 3 * time.Minute

func TestDevenvReferencePDSIntoRelay(t *testing.T) {
	node := os.Getenv("CONFLUX_INTEROP_NODE")
	if node == "" {
		t.Skip("CONFLUX_INTEROP_NODE (the Node 22 binary) is not set; interop/run sets it")
	}
	t.Parallel()
	dir := t.TempDir()
	logs := &devenvBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("conflux logs (tail):\n%s", logs.tail(12000))
		}
	})
	// The relay listens before the PDS starts: its URL is the PDS's crawler.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	script := devenvStartScript(t, node, "http://"+ln.Addr().String(), filepath.Join(dir, "reference"))
	nw := script.waitFor(t, "network")
	t.Logf("reference network: plc %s, pds %s (%d ms in dev-env, %s since spawn)", nw.PLC, nw.PDS, nw.TookMs, time.Since(started).Round(time.Millisecond))

	rig := devenvStartConflux(t, ln, nw, dir, logs)

	if p := script.waitFor(t, "pause"); p.Name != "deactivated" {
		t.Fatalf("pause %q, want deactivated", p.Name)
	}
	rig.converge(t, script.actionList())
	dave := script.user(t, "dave.test")
	rig.checkHidden(t, dave, script.actionList())
	script.send(t, "continue")

	done := script.waitFor(t, "done")
	actions := script.actionList()
	if done.Actions != len(actions) {
		t.Fatalf("script reports %d actions, printed %d", done.Actions, len(actions))
	}
	rig.converge(t, actions)
	t.Logf("converged: %d actions, %d PDS events, relay head %d, %s since spawn",
		len(actions), len(rig.pdsObs.snapshot()), rig.relay.Head(), time.Since(started).Round(time.Millisecond))

	rig.checkStreams(t, actions)
	rig.checkReplay(t)
	rig.checkCrawlRequests(t)
	truth := rig.fetchRepos(t, actions)
	rig.checkAppView(t, truth, actions)
	rig.checkFeed(t, truth)
}

// devenvLine is one JSON line of devenv-network.mjs.
type devenvLine struct {
	Kind    string `json:"kind"`
	PLC     string `json:"plc"`
	PDS     string `json:"pds"`
	TookMs  int64  `json:"tookMs"`
	Name    string `json:"name"`
	Actions int    `json:"actions"`

	// Action lines also carry text, subject, displayName...: the checks
	// read the records themselves from the PDS instead.
	Action string `json:"action"`
	DID    string `json:"did"`
	Handle string `json:"handle"`
	URI    string `json:"uri"`
	CID    string `json:"cid"`
}

// devenvScript is the running devenv-network.mjs.
type devenvScript struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan devenvLine
	stderr *devenvBuffer
	exited chan struct{}

	mu      sync.Mutex
	actions []devenvLine
}

func devenvStartScript(t *testing.T, node, relayURL, dataDir string) *devenvScript {
	t.Helper()
	cmd := exec.Command(node, "--import", "./lib/loopback-only.mjs", "devenv-network.mjs", "--relay", relayURL, "--data", dataDir)
	s := &devenvScript{cmd: cmd, lines: make(chan devenvLine, 256), stderr: &devenvBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	// dev-env makes directories (and port locks) under os.tmpdir(): keep
	// them in the test's own directory, which the test removes.
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "TMPDIR="+dataDir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", node, err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var l devenvLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = devenvLine{Kind: "garbage", Name: sc.Text()}
			}
			s.lines <- l
		}
	}()
	go func() {
		_ = cmd.Wait() // after stdout is drained; the status is in ProcessState
		close(s.exited)
	}()
	// Shut down: a line (or EOF) on stdin closes the network; a process that
	// does not exit in time is killed (it is ours: we started it).
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("devenv-network.mjs stderr (tail):\n%s", s.stderr.tail(8000))
		}
	})
	return s
}

// waitFor reads lines until one of kind, keeping the actions on the way.
func (s *devenvScript) waitFor(t *testing.T, kind string) devenvLine {
	t.Helper()
	timeout := time.After(devenvWait)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				<-s.exited
				t.Fatalf("devenv-network.mjs ended (%v) before %q; stderr:\n%s", s.cmd.ProcessState, kind, s.stderr.tail(8000))
			}
			switch l.Kind {
			case "garbage":
				t.Fatalf("devenv-network.mjs printed a non-JSON line: %q", l.Name)
			case "action":
				s.mu.Lock()
				s.actions = append(s.actions, l)
				s.mu.Unlock()
			}
			if l.Kind == kind {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q line from devenv-network.mjs within %s; stderr:\n%s", kind, devenvWait, s.stderr.tail(8000))
		}
	}
}

func (s *devenvScript) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		t.Fatalf("write to devenv-network.mjs: %v", err)
	}
}

func (s *devenvScript) actionList() []devenvLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.actions)
}

// user returns the DID of the account created with handle.
func (s *devenvScript) user(t *testing.T, handle string) string {
	t.Helper()
	for _, a := range s.actionList() {
		if a.Action == "createAccount" && a.Handle == handle {
			return a.DID
		}
	}
	t.Fatalf("no account %s was created", handle)
	return ""
}

// devenvRig is our side: relay, two stream observers, appview and feed.
type devenvRig struct {
	pdsURL  string
	relay   *relay.Relay
	reg     *prometheus.Registry
	crawls  *devenvCrawlLog
	pdsObs  *devenvObserver
	relObs  *devenvObserver
	relayWS string
	av      *appview.Server
	avURL   string
	feed    *consumer.Consumer
	fgURL   string
	feedURI string
	http    *http.Client
}

func devenvStartConflux(t *testing.T, ln net.Listener, nw devenvLine, dir string, logs *devenvBuffer) *devenvRig {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rig := &devenvRig{pdsURL: nw.PDS, reg: prometheus.NewRegistry(), crawls: &devenvCrawlLog{}, http: &http.Client{Timeout: 30 * time.Second}}
	// Strict mode: no host is lenient. Dev allows localhost, ws:// and ports.
	r, err := relay.New(relay.Config{DataDir: filepath.Join(dir, "relay"), PLCURL: nw.PLC, Dev: true, NoSync: true,
		Registerer: rig.reg, Logger: logger.With("service", "relay")})
	if err != nil {
		t.Fatal(err)
	}
	rig.relay = r
	srv := &http.Server{Handler: rig.crawls.wrap(r.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	devenvRun(t, r.Run, func() { srv.Close(); r.Close() })
	relayWS := "ws://" + ln.Addr().String()

	// The PDS announces itself as a bare "localhost": the relay accepts that
	// (see checkCrawlRequests) but cannot know the port, so the host is added
	// here with it, from the start of its stream.
	if err := r.AddHost(t.Context(), nw.PDS, relay.HostOptions{Backfill: true}); err != nil {
		t.Fatalf("relay: add %s: %v", nw.PDS, err)
	}
	rig.pdsObs = devenvObserve(t, "pds", nw.PDS)
	rig.relObs = devenvObserve(t, "relay", relayWS)
	rig.relayWS = relayWS

	res, err := identity.NewResolver(identity.Config{PLCURL: nw.PLC})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.NewCache(res, identity.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	avDB, err := pebble.Open(filepath.Join(dir, "appview"), &pebble.Options{Logger: devenvQuietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	av, err := appview.New(appview.Config{RelayURL: relayWS, DB: avDB, Resolver: ids,
		Cursor: 0, NoSync: true, Logger: logger.With("service", "appview")})
	if err != nil {
		t.Fatal(err)
	}
	rig.av = av
	devenvRun(t, av.Run, func() { av.Close(); avDB.Close() })
	avSrv := httptest.NewServer(av.Handler())
	t.Cleanup(avSrv.Close)
	rig.avURL = avSrv.URL

	db, err := pebble.Open(filepath.Join(dir, "feedgen"), &pebble.Options{Logger: devenvQuietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	var feeds plugin.Registry
	if err := feeds.Register(devenvAllPosts{}); err != nil {
		t.Fatal(err)
	}
	gen, err := feedgen.New(feedgen.Config{DB: db, Feeds: &feeds, PublisherDID: "did:web:localhost", ServiceDID: "did:web:localhost",
		Logger: logger.With("service", "feedgen")})
	if err != nil {
		t.Fatal(err)
	}
	rig.feedURI = gen.FeedURI(devenvAllPosts{}.Name())
	fc, err := consumer.New(consumer.Config{URL: relayWS, Cursor: 0, Logger: logger.With("service", "feedgen"),
		Durable: &consumer.Durable{DB: db, Name: "feedgen", Handler: gen, NoSync: true}})
	if err != nil {
		t.Fatal(err)
	}
	rig.feed = fc
	devenvRun(t, fc.Run, func() { db.Close() })
	fgSrv := httptest.NewServer(gen.Handler())
	t.Cleanup(fgSrv.Close)
	rig.fgURL = fgSrv.URL
	return rig
}

// devenvRun runs fn until the test ends, then cancels it, waits for it and
// calls after. A failure of fn while the test runs is reported.
func devenvRun(t *testing.T, fn func(context.Context) error, after func()) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("service stopped with: %v", err)
		}
		after()
	})
}

// devenvQuietPebble keeps Pebble's start-up lines out of the test output.
type devenvQuietPebble struct{}

func (devenvQuietPebble) Infof(string, ...any)  {}
func (devenvQuietPebble) Errorf(string, ...any) {}
func (devenvQuietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// devenvAllPosts is a feed of every post: the feed must equal the PDS's posts.
type devenvAllPosts struct{}

func (devenvAllPosts) Name() string                       { return "all" }
func (devenvAllPosts) Match(*plugin.Post) plugin.Decision { return plugin.Keep }

// devenvEvent is what one stream said about one event, in comparable form.
type devenvEvent struct {
	Seq  int64
	Type string
	DID  string
	// Key holds every field the relay must pass on unchanged (blocks as a
	// digest); the relay's own seq is not in it.
	Key      string
	Rev      string
	Ops      []firehose.RepoOp
	PrevData bool
	Handle   string
	Active   bool
	Status   string
}

// devenvObserver records a subscribeRepos stream from cursor 0.
type devenvObserver struct {
	name string
	cons *consumer.Consumer
	mu   struct {
		sync.Mutex
		events   []devenvEvent
		disorder []string
	}
}

func devenvObserve(t *testing.T, name, url string) *devenvObserver {
	t.Helper()
	o := &devenvObserver{name: name}
	c, err := consumer.New(consumer.Config{URL: url, Cursor: 0, Handler: consumer.HandlerFunc(o.handle), MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o.cons = c
	devenvRun(t, c.Run, func() {})
	return o
}

func (o *devenvObserver) handle(_ context.Context, ev consumer.Event) error {
	e := devenvEvent{Seq: ev.Seq, Type: ev.Frame.Type}
	digest := func(b []byte) string { s := sha256.Sum256(b); return fmt.Sprintf("%x", s[:8]) }
	switch m := ev.Frame.Msg.(type) {
	case *firehose.Commit:
		e.DID, e.Rev, e.PrevData, e.Ops = m.Repo, m.Rev, m.PrevData.Defined(), slices.Clone(m.Ops)
		var ops strings.Builder
		for _, op := range m.Ops {
			fmt.Fprintf(&ops, "%s %s %s %s;", op.Action, op.Path, op.CID, op.Prev)
		}
		e.Key = fmt.Sprintf("rev=%s since=%s commit=%s prevData=%s tooBig=%t rebase=%t ops=[%s] blocks=%s time=%s",
			m.Rev, m.Since, m.Commit, m.PrevData, m.TooBig, m.Rebase, ops.String(), digest(m.Blocks), m.Time)
	case *firehose.Sync:
		e.DID, e.Rev = m.DID, m.Rev
		e.Key = fmt.Sprintf("rev=%s blocks=%s time=%s", m.Rev, digest(m.Blocks), m.Time)
	case *firehose.Identity:
		e.DID, e.Handle = m.DID, m.Handle
		e.Key = fmt.Sprintf("handle=%s time=%s", m.Handle, m.Time)
	case *firehose.Account:
		e.DID, e.Active, e.Status = m.DID, m.Active, m.Status
		e.Key = fmt.Sprintf("active=%t status=%s time=%s", m.Active, m.Status, m.Time)
	default:
		return nil // #info
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.mu.events); n > 0 && e.Seq <= o.mu.events[n-1].Seq {
		o.mu.disorder = append(o.mu.disorder, fmt.Sprintf("seq %d after %d", e.Seq, o.mu.events[n-1].Seq))
	}
	o.mu.events = append(o.mu.events, e)
	return nil
}

func (o *devenvObserver) snapshot() []devenvEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.mu.events)
}

// byDID groups events per account, in stream order.
func devenvByDID(evs []devenvEvent) map[string][]string {
	out := map[string][]string{}
	for _, e := range evs {
		out[e.DID] = append(out[e.DID], e.Type+" "+e.Key)
	}
	return out
}

// devenvCrawlLog records the requestCrawl calls the relay answered.
type devenvCrawlLog struct {
	mu    sync.Mutex
	calls []string // "status body"
}

func (l *devenvCrawlLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/xrpc/com.atproto.sync.requestCrawl" {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		l.mu.Lock()
		l.calls = append(l.calls, fmt.Sprintf("%d %s", rec.Code, bytes.TrimSpace(body)))
		l.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func (l *devenvCrawlLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// devenvBuffer is a goroutine-safe log sink.
type devenvBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *devenvBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *devenvBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
