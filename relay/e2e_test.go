package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/identity/plc"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// plcDirectory runs a development PLC directory for the test.
func plcDirectory(t *testing.T) string {
	t.Helper()
	d, err := plc.NewDirectory(plc.DirectoryConfig{Dir: t.TempDir(), NoSync: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(func() { srv.Close(); d.Close() })
	return srv.URL
}

// startPDS runs a Conflux host until the test ends.
func startPDS(t *testing.T, plcURL string) (*pds.PDS, *httptest.Server) {
	t.Helper()
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hp := h.Load(); hp != nil {
			(*hp).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	p, err := pds.New(pds.Config{DataDir: t.TempDir(), PublicURL: srv.URL, PLCURL: plcURL,
		HandleDomains: []string{".test"}, BcryptCost: 4, NoSync: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	handler := p.Handler()
	h.Store(&handler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pds Run: %v", err)
		}
		p.Close()
	})
	return p, srv
}

// checker is a terminating consumer: every #commit must pass the sync 1.1
// proof, the signature with the DID's key, and continue its DID's chain.
type checker struct {
	t   *testing.T
	res identity.DIDResolver
	mu  sync.Mutex
	// per DID: revs in order
	revs     map[string][]string
	data     map[string]string
	lastSeq  int64
	commits  int
	failures []string
}

func newChecker(t *testing.T, res identity.DIDResolver) *checker {
	return &checker{t: t, res: res, revs: map[string][]string{}, data: map[string]string{}}
}

func (c *checker) HandleEvent(ctx context.Context, ev consumer.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Seq <= c.lastSeq {
		c.failures = append(c.failures, fmt.Sprintf("seq %d after %d", ev.Seq, c.lastSeq))
	}
	c.lastSeq = ev.Seq
	cm, ok := ev.Frame.Msg.(*firehose.Commit)
	if !ok {
		return nil
	}
	c.commits++
	fail := func(f string, a ...any) {
		c.failures = append(c.failures, fmt.Sprintf("seq %d: ", ev.Seq)+fmt.Sprintf(f, a...))
	}
	checked, err := repo.CheckCommitProof(cm.Evidence(), car.CommitLimits())
	if err != nil {
		fail("proof: %v", err)
		return nil
	}
	id, err := c.res.Resolve(ctx, cm.Repo)
	if err != nil {
		fail("resolve: %v", err)
		return nil
	}
	pub, err := id.PublicKey()
	if err != nil {
		fail("key: %v", err)
		return nil
	}
	if err := checked.Commit.VerifySignature(pub); err != nil {
		fail("signature: %v", err)
	}
	if revs := c.revs[cm.Repo]; len(revs) > 0 {
		prev := revs[len(revs)-1]
		if cm.Since != prev || cm.PrevData.String() != c.data[cm.Repo] || cm.Rev <= prev {
			fail("chain of %s broken: since %s, want %s", cm.Repo, cm.Since, prev)
		}
	}
	c.revs[cm.Repo] = append(c.revs[cm.Repo], cm.Rev)
	c.data[cm.Repo] = checked.Commit.Data.String()
	return nil
}

func (c *checker) snapshot() (commits int, lastSeq int64, failures []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commits, c.lastSeq, append([]string(nil), c.failures...)
}

// TestEndToEnd: three Conflux hosts with users -> relay -> a consumer. Every
// host commit appears once, in per-DID order, and passes the consumer's
// proof and signature checks.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	const hosts, users, writes = 3, 4, 5
	plcURL := plcDirectory(t)
	r := startRelay(t, Config{PLCURL: plcURL})
	relaySrv := httptest.NewServer(r.Handler())
	t.Cleanup(relaySrv.Close)

	var pdss []*pds.PDS
	for range hosts {
		p, srv := startPDS(t, plcURL)
		pdss = append(pdss, p)
		if err := r.AddHost(t.Context(), srv.URL, HostOptions{Backfill: true}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := identity.NewResolver(identity.Config{PLCURL: plcURL})
	if err != nil {
		t.Fatal(err)
	}
	chk := newChecker(t, res)
	c, err := consumer.New(consumer.Config{URL: relaySrv.URL, Cursor: 0, Handler: chk,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	want := map[string][]string{} // did -> revs the host made, in order
	var wmu sync.Mutex
	var wg sync.WaitGroup
	for h, p := range pdss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range users {
				acct, err := p.CreateAccount(t.Context(), pds.CreateAccountInput{Handle: fmt.Sprintf("u%d-%d.test", h, u)})
				if err != nil {
					t.Error(err)
					return
				}
				revs := []string{acct.Rev}
				for w := range writes {
					cr, err := p.ApplyWrites(t.Context(), acct.DID, []pds.Write{{Action: repo.Create, Collection: "app.bsky.feed.post",
						Value: map[string]any{"text": fmt.Sprintf("post %d", w), "createdAt": "2026-01-01T00:00:00.000Z"}}}, cid.Undef)
					if err != nil {
						t.Error(err)
						return
					}
					revs = append(revs, cr.Rev)
				}
				wmu.Lock()
				want[acct.DID] = revs
				wmu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := hosts * users * (1 + writes)
	waitFor(t, "all commits at the consumer", func() bool {
		n, _, _ := chk.snapshot()
		return n >= total
	})
	n, _, failures := chk.snapshot()
	for _, f := range failures {
		t.Error(f)
	}
	if n != total {
		t.Errorf("consumer saw %d commits, want %d", n, total)
	}
	chk.mu.Lock()
	defer chk.mu.Unlock()
	for did, revs := range want {
		if fmt.Sprint(chk.revs[did]) != fmt.Sprint(revs) {
			t.Errorf("%s: relay revs %v, host revs %v", did, chk.revs[did], revs)
		}
	}
}
