package relay

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// relayProc is the relay binary run as a subprocess, so it can be killed
// with SIGKILL.
type relayProc struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
}

func startRelayProc(t *testing.T, bin string, args []string) *relayProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"relay"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &relayProc{cmd: cmd, stderr: &strings.Builder{}}
	cmd.Stderr = &lockedWriter{b: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "relay listening on") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("relay did not start: %s", p.stderr.String())
	}
	return p
}

type lockedWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (p *relayProc) kill() {
	p.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
	p.cmd.Wait()
}

// dedupChecker is checker tolerant of duplicates (allowed after a crash): a
// commit whose rev its DID already had is counted, not checked again.
type dedupChecker struct {
	*checker
	dups atomic.Int64
}

func (d *dedupChecker) HandleEvent(ctx context.Context, ev consumer.Event) error {
	if cm, ok := ev.Frame.Msg.(*firehose.Commit); ok {
		d.mu.Lock()
		for _, r := range d.revs[cm.Repo] {
			if r == cm.Rev {
				d.dups.Add(1)
				if ev.Seq <= d.lastSeq {
					d.failures = append(d.failures, fmt.Sprintf("seq %d after %d", ev.Seq, d.lastSeq))
				}
				d.lastSeq = ev.Seq
				d.mu.Unlock()
				return nil
			}
		}
		d.mu.Unlock()
	}
	return d.checker.HandleEvent(ctx, ev)
}

// TestKillRestart kills the relay (a subprocess) with SIGKILL while hosts
// write, restarts it on the same data: no seq is reused, no host commit is
// lost, and a subscriber resumes by cursor without a gap.
func TestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the conflux binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "conflux")
	build := exec.Command("go", "build", "-o", bin, "../cmd/conflux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	plcURL := plcDirectory(t)
	var pdss []*pds.PDS
	args := []string{"--data", t.TempDir(), "--listen", freeAddr(t), "--metrics-listen", "",
		"--plc-url", plcURL, "--dev", "--backfill"}
	for range 3 {
		p, srv := startPDS(t, plcURL)
		pdss = append(pdss, p)
		args = append(args, "--host", srv.URL)
	}
	listen := args[3]
	proc := startRelayProc(t, bin, args)
	t.Cleanup(func() { proc.kill() })

	res, err := identity.NewResolver(identity.Config{PLCURL: plcURL})
	if err != nil {
		t.Fatal(err)
	}
	chk := &dedupChecker{checker: newChecker(t, res)}
	c, err := consumer.New(consumer.Config{URL: "ws://" + listen, Cursor: 0, Handler: chk,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Writers run through the kill and the restart.
	var want sync.Map // did -> *[]string
	var total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for h, p := range pdss {
		for u := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				acct, err := p.CreateAccount(context.Background(), pds.CreateAccountInput{Handle: fmt.Sprintf("k%d-%d.test", h, u)})
				if err != nil {
					t.Error(err)
					return
				}
				revs := []string{acct.Rev}
				total.Add(1)
				for i := 0; ; i++ {
					select {
					case <-stop:
						want.Store(acct.DID, revs)
						return
					default:
					}
					cr, err := p.ApplyWrites(context.Background(), acct.DID, []pds.Write{{Action: repo.Create, Collection: "app.bsky.feed.post",
						Value: map[string]any{"text": fmt.Sprintf("post %d", i), "createdAt": "2026-01-01T00:00:00.000Z"}}}, cid.Undef)
					if err != nil {
						t.Error(err)
						want.Store(acct.DID, revs)
						return
					}
					revs = append(revs, cr.Rev)
					total.Add(1)
					time.Sleep(2 * time.Millisecond)
				}
			}()
		}
	}
	waitFor(t, "commits before the kill", func() bool { n, _, _ := chk.snapshot(); return n >= 50 })
	before, _, _ := chk.snapshot()
	proc.kill()
	time.Sleep(50 * time.Millisecond) // let the hosts write while the relay is down
	proc = startRelayProc(t, bin, args)
	waitFor(t, "commits after the restart", func() bool { n, _, _ := chk.snapshot(); return n >= before+50 })
	close(stop)
	wg.Wait()
	waitFor(t, "every host commit at the consumer", func() bool { n, _, _ := chk.snapshot(); return int64(n) >= total.Load() })

	n, _, failures := chk.snapshot()
	for _, f := range failures {
		t.Error(f)
	}
	if int64(n) != total.Load() {
		t.Errorf("consumer saw %d distinct commits, hosts made %d", n, total.Load())
	}
	t.Logf("%d commits, %d duplicates after the crash", n, chk.dups.Load())
	chk.mu.Lock()
	defer chk.mu.Unlock()
	want.Range(func(k, v any) bool {
		did, revs := k.(string), v.([]string)
		if fmt.Sprint(chk.revs[did]) != fmt.Sprint(revs) {
			t.Errorf("%s: relay revs %v, host revs %v", did, chk.revs[did], revs)
		}
		return true
	})
}

// freeAddr returns a loopback address that was free a moment ago, so the
// restarted relay can listen where the subscriber reconnects.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
