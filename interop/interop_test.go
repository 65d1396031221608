// Package interop runs Conflux against the atproto reference implementation:
// the pinned @atproto/* packages of this folder's Node project, driven by
// small scripts, talk to Conflux services started in-process on 127.0.0.1.
// The tests run only when CONFLUX_INTEROP_NODE names the pinned Node 22
// (interop/run sets it after installing the project); plain `go test ./...`
// skips them.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/appview"
	"github.com/conflux-atproto/conflux/feedgen"
	"github.com/conflux-atproto/conflux/feedgen/feedfile"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/identity/plc"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/pdstest"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/pds/synthhost"
	"github.com/conflux-atproto/conflux/relay"
)

// nodeEnv names the Node binary; unset, every test here skips.
const nodeEnv = "CONFLUX_INTEROP_NODE"

// nodeTimeout bounds one script run: a hang becomes a failure, not a stuck CI.
const nodeTimeout = 3 * time.Minute

// nodeBinary returns the pinned Node, or skips the test.
func nodeBinary(t *testing.T) string {
	t.Helper()
	node := os.Getenv(nodeEnv)
	if node == "" {
		t.Skipf("%s is not set: run `bash interop/run` to run the interop suite", nodeEnv)
	}
	return node
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// quietPebble drops Pebble's informational lines; a fatal one still stops
// the test binary, as Pebble expects.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// nodeProc is a running interop script. Its stdout is JSON lines, collected
// as they come; stderr is kept for failure messages.
type nodeProc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	done   chan error

	mu    sync.Mutex
	lines []json.RawMessage
}

// startNode starts script (a path relative to this folder) under the
// loopback-only guard. The process is killed when the test ends.
func startNode(t *testing.T, script string, args ...string) *nodeProc {
	t.Helper()
	node := nodeBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	cmd := exec.CommandContext(ctx, node, append([]string{"--import", "./lib/loopback-only.mjs", script}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	p := &nodeProc{t: t, name: script, cmd: cmd, done: make(chan error, 1)}
	cmd.Stderr = &lockedWriter{w: &p.stderr, mu: &p.mu}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", script, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			line := append(json.RawMessage(nil), sc.Bytes()...)
			if !json.Valid(line) {
				line, _ = json.Marshal(map[string]string{"type": "stdout", "text": string(line)})
			}
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
		}
		p.done <- cmd.Wait()
		cancel()
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		p.done <- nil // for a wait after cleanup (none expected)
	})
	return p
}

// lockedWriter lets the stderr copy and readers share a buffer.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// send writes one line to the script's stdin.
func (p *nodeProc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: write stdin: %v", p.name, err)
	}
}

// input writes data to the script's stdin and closes it.
func (p *nodeProc) input(data []byte) {
	p.t.Helper()
	if _, err := p.stdin.Write(data); err != nil {
		p.t.Fatalf("%s: write stdin: %v", p.name, err)
	}
	if err := p.stdin.Close(); err != nil {
		p.t.Fatalf("%s: close stdin: %v", p.name, err)
	}
}

// wait waits for the script to exit successfully and returns its lines.
func (p *nodeProc) wait() []json.RawMessage {
	p.t.Helper()
	err := <-p.done
	p.done <- err
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.t.Fatalf("%s: %v\nstderr:\n%s", p.name, err, tail(p.stderr.String(), 4000))
	}
	return append([]json.RawMessage(nil), p.lines...)
}

// stderrText is what the script wrote to stderr so far.
func (p *nodeProc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// waitFor polls cond; the deadline only turns a hang into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric reads the summed value of a gauge or counter from reg.
func metric(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
		}
	}
	return sum
}

// startPLC runs a development PLC directory on 127.0.0.1.
func startPLC(t *testing.T) string {
	t.Helper()
	dir, err := plc.NewDirectory(plc.DirectoryConfig{Dir: t.TempDir(), NoSync: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(dir)
	t.Cleanup(func() { srv.Close(); _ = dir.Close() })
	return srv.URL
}

// host is a Conflux repository host with did:plc accounts and its own
// metrics registry (its event-log head and subscriber count).
type host struct {
	pds    *pds.PDS
	url    string
	domain string // handles are one label under it
	reg    *prometheus.Registry
}

// startHost runs a host whose handles end in "."+domain.
func startHost(t *testing.T, plcURL, domain string) *host {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, u := pdstest.Start(t, pds.Config{PLCURL: plcURL, HandleDomains: []string{"." + domain}, Registry: reg, Logger: quiet()})
	return &host{pds: p, url: u, domain: domain, reg: reg}
}

func (h *host) hostname() string { return strings.TrimPrefix(h.url, "http://") }
func (h *host) wsURL() string    { return "ws://" + h.hostname() }
func (h *host) head(t *testing.T) int64 {
	return int64(metric(t, h.reg, "conflux_eventlog_head_seq"))
}

// drive runs n synthetic actions by users new accounts of h (handles under
// h's domain); any failed write is an error. It may run in a goroutine.
func drive(ctx context.Context, h *host, users int, n, seed int64) error {
	d, err := synth.New(synth.Config{Host: synthhost.Host{PDS: h.pds}, Users: users, MaxWrites: n, Seed: seed,
		Workers: 4, HandleDomain: h.domain, Logger: quiet()})
	if err != nil {
		return err
	}
	if err := d.Run(ctx); err != nil {
		return err
	}
	if s := d.Stats(); s.Errors > 0 {
		return fmt.Errorf("synthetic activity on %s: %d failed writes: %+v", h.url, s.Errors, s)
	}
	return nil
}

// repoContents is every record of every account of h: DID -> path -> CID.
func repoContents(t *testing.T, h *host) map[string]map[string]string {
	t.Helper()
	accts, err := h.pds.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, a := range accts {
		recs := map[string]string{}
		colls, err := h.pds.Collections(a.DID)
		if err != nil {
			t.Fatal(err)
		}
		for _, coll := range colls {
			cursor := ""
			for {
				page, next, err := h.pds.ListRecords(a.DID, coll, 100, cursor, false)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page {
					recs[strings.TrimPrefix(r.URI, "at://"+a.DID+"/")] = r.CID.String()
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
		out[a.DID] = recs
	}
	return out
}

// startRelay runs a development-mode relay crawling hosts from the start of
// their logs, served on 127.0.0.1.
func startRelay(t *testing.T, plcURL string, hosts ...*host) (*relay.Relay, string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := relay.New(relay.Config{DataDir: t.TempDir(), PLCURL: plcURL, Dev: true, NoSync: true,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quiet(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if err := r.AddHost(t.Context(), h.url, relay.HostOptions{Backfill: true}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(r.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay Run: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("relay Close: %v", err)
		}
	})
	return r, srv.URL, reg
}

// waitRelayCaughtUp waits until the relay has processed every event each
// host has emitted so far.
func waitRelayCaughtUp(t *testing.T, r *relay.Relay, hosts ...*host) {
	t.Helper()
	for _, h := range hosts {
		want := h.head(t)
		waitFor(t, fmt.Sprintf("relay cursor on %s reaching %d", h.hostname(), want), func() bool {
			c, ok, err := r.HostCursor(h.hostname())
			if err != nil {
				t.Fatal(err)
			}
			return ok && c >= want
		})
	}
}

// wsOf turns an http:// URL into its ws:// form.
func wsOf(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

// startAppview runs an AppView indexing the relay at relayURL with full
// verification, served on 127.0.0.1; cursor reports its processed seq.
func startAppview(t *testing.T, relayURL, plcURL string) (url string, cursor func() int64) {
	t.Helper()
	res, err := identity.NewResolver(identity.Config{PLCURL: plcURL, DevLocalhost: true, WebHosts: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.NewCache(res, identity.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	av, err := appview.New(appview.Config{RelayURL: wsOf(relayURL), DB: db, Resolver: ids, NoSync: true,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(av.Handler())
	runService(t, av.Run, func() { srv.Close(); _ = av.Close(); _ = db.Close() })
	return srv.URL, av.Cursor
}

// feedPublisher publishes the test feeds: at://feedPublisher/app.bsky.feed.generator/<name>.
const feedPublisher = "did:web:feeds.interop.test"

// startFeedgen runs a feed generator with the feeds of feedFile, each on
// its own durable consumer of the relay, served on 127.0.0.1; cursors
// reports each feed's processed seq.
func startFeedgen(t *testing.T, relayURL, feedFile string) (url string, cursors func() []int64) {
	t.Helper()
	feeds, err := feedfile.Parse([]byte(feedFile))
	if err != nil {
		t.Fatal(err)
	}
	var reg plugin.Registry
	for _, f := range feeds {
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := feedgen.New(feedgen.Config{DB: db, Feeds: &reg, PublisherDID: feedPublisher, ServiceDID: feedPublisher,
		Hostname: "feeds.interop.test", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gen.Handler())
	// Registered before the consumers' cleanups, so it runs after them
	// (cleanups run last-registered first): the server and the DB the
	// consumers write to close once every consumer stopped.
	t.Cleanup(func() { srv.Close(); _ = db.Close() })
	var consumers []*consumer.Consumer
	for _, f := range reg.Feeds() {
		h, err := gen.FeedHandler(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		c, err := consumer.New(consumer.Config{URL: wsOf(relayURL), Cursor: 0, Logger: quiet(),
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			Durable: &consumer.Durable{DB: db, Name: "feedgen/" + f.Name(), Handler: h, NoSync: true}})
		if err != nil {
			t.Fatal(err)
		}
		consumers = append(consumers, c)
	}
	for _, c := range consumers {
		runService(t, c.Run, func() {})
	}
	return srv.URL, func() []int64 {
		out := make([]int64, len(consumers))
		for i, c := range consumers {
			out[i] = c.Cursor()
		}
		return out
	}
}

// runService runs run until the test ends, then calls after; an error
// other than the stop itself fails the test.
func runService(t *testing.T, run func(context.Context) error, after func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("service stopped with %v", err)
		}
		after()
	})
}
