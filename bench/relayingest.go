package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conflux-atproto/conflux/relay"
)

// RelayIngestConfig configures RelayIngest. Zero values mean the defaults.
type RelayIngestConfig struct {
	Common
	Hosts    int // default 10
	Accounts int // per host, default 500
	Commits  int // per account, default 6
	// NoSync runs the relay without fsync (its production setting is on).
	NoSync bool
	// Timeout bounds the ingest phase (default 40 s).
	Timeout time.Duration
}

func (c RelayIngestConfig) withDefaults() RelayIngestConfig {
	setDefault(&c.Hosts, 10)
	setDefault(&c.Accounts, 500)
	setDefault(&c.Commits, 6)
	setDefault(&c.Timeout, 40*time.Second)
	return c
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// RelayIngestResult is what RelayIngest measured.
type RelayIngestResult struct {
	Bound        Bound            `json:"bound"`
	Hosts        int              `json:"hosts"`
	Accounts     int              `json:"accountsPerHost"`
	Commits      int              `json:"commitsPerAccount"`
	Fsync        bool             `json:"fsync"`
	Sent         int64            `json:"eventsSent"`     // events in the hosts' logs
	Ingested     int64            `json:"eventsIngested"` // the relay's head after the run
	Drops        map[string]int64 `json:"drops"`
	PrepSeconds  float64          `json:"prepSeconds"`
	Seconds      float64          `json:"seconds"`
	EventsPerSec float64          `json:"eventsPerSecond"`
	// Commits are the #commit events among Sent: each needs a signature
	// check, the other events (#identity, #account) do not.
	CommitEvents  int64   `json:"commitEvents"`
	CommitsPerSec float64 `json:"commitsPerSecond"`
	Cores         float64 `json:"cpuCores"`
	Ratio         float64 `json:"ratioToBound"`
	TimedOut      bool    `json:"timedOut"`
}

// Table implements Result.
func (r *RelayIngestResult) Table() Table {
	t := Table{Title: "relay-ingest"}
	t.add("signature bound", "%s", r.Bound)
	t.add("hosts x accounts x commits", "%d x %d x %d", r.Hosts, r.Accounts, r.Commits)
	t.add("events sent / ingested", "%d / %d", r.Sent, r.Ingested)
	t.add("drops", "%v", r.Drops)
	t.add("ingest time", "%.2f s (preparing the hosts took %.1f s)", r.Seconds, r.PrepSeconds)
	t.add("ingest rate", "%.0f events/s, of which %.0f #commit/s (%d commits)", r.EventsPerSec, r.CommitsPerSec, r.CommitEvents)
	t.add("CPU", "%.2f cores", r.Cores)
	t.add("ratio to bound", "%.2f (#commit/s over verifications/s; all events/s over it: %.2f)", r.Ratio, r.Bound.Ratio(r.EventsPerSec))
	if r.TimedOut {
		t.note("TIMED OUT before every event was ingested")
	}
	t.note("hosts are real PDSs that wrote every commit (signed, MST, CAR slice) before the relay started; the relay then crawled them from cursor 0 (backfill) and verified every #commit (CAR, structure, rev, signature, MST inversion) and sequenced it (relay fsync %v)", r.Fsync)
	t.note("identities resolved from the development PLC directory and cached before timing; CPU is the whole process, the hosts serving their logs included")
	t.note("events include each account's creation (#identity, #account and the genesis #commit)")
	return t
}

// RelayIngest measures the relay's sustained verified ingest.
func RelayIngest(ctx context.Context, cfg RelayIngestConfig) (*RelayIngestResult, error) {
	cfg = cfg.withDefaults()
	p := cfg.Progress
	res := &RelayIngestResult{Hosts: cfg.Hosts, Accounts: cfg.Accounts, Commits: cfg.Commits, Fsync: !cfg.NoSync}
	cl, err := begin(ctx, cfg.Common, &res.Bound)
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	prep := time.Now()
	hosts, dids, err := prepareHosts(ctx, cl, cfg.Hosts, cfg.Accounts, cfg.Commits, p)
	if err != nil {
		return nil, err
	}
	for i, h := range hosts {
		head, err := headOf(ctx, h, dids[i][0])
		if err != nil {
			return nil, err
		}
		res.Sent += head
	}
	p.Phase("resolving identities")
	for _, d := range dids {
		if err := cl.warm(ctx, d); err != nil {
			return nil, err
		}
	}
	res.PrepSeconds = time.Since(prep).Seconds()

	p.Phase("relay ingest")
	r, _, err := cl.startRelay(relayOptions{noSync: cfg.NoSync})
	if err != nil {
		return nil, err
	}
	meter := startCPU()
	start := time.Now()
	if err := addHosts(ctx, r, hosts); err != nil {
		return nil, err
	}
	deadline := start.Add(cfg.Timeout)
	// Dropped events never reach the head: stop waiting for them too.
	for r.Head()+dropped(r) < res.Sent {
		if err := cl.err(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			res.TimedOut = true
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p.Set(r.Head(), res.Sent, "events")
		time.Sleep(2 * time.Millisecond)
	}
	res.Seconds = time.Since(start).Seconds()
	res.Cores = meter.cores()
	res.Ingested = r.Head()
	res.EventsPerSec = float64(res.Ingested) / res.Seconds
	// Each account's genesis commit, its posts, and one marker per host;
	// if the run timed out, assume the same share of commits.
	res.CommitEvents = int64(cfg.Hosts*cfg.Accounts*(cfg.Commits+1) + cfg.Hosts)
	res.CommitsPerSec = res.EventsPerSec * float64(res.CommitEvents) / float64(res.Sent)
	res.Ratio = res.Bound.Ratio(res.CommitsPerSec)
	res.Drops, _ = r.Counts()
	p.Done()
	return res, nil
}

// prepareHosts starts n hosts, each with accounts accounts that commit
// commits posts each, and returns the hosts and their accounts' DIDs.
func prepareHosts(ctx context.Context, cl *cluster, n, accounts, commits int, p *Progress) ([]*host, [][]string, error) {
	hosts := make([]*host, n)
	for i := range hosts {
		h, err := cl.addHost(fmt.Sprintf("h%d", i), true)
		if err != nil {
			return nil, nil, err
		}
		hosts[i] = h
	}
	dids := make([][]string, n)
	var made atomic.Int64
	total := int64(n * accounts)
	p.Phase("creating accounts")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			dids[i], errs[i] = h.createAccounts(ctx, accounts, 4, func() { p.Set(made.Add(1), total, "accounts") })
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	p.Phase("writing commits on hosts")
	var wrote atomic.Int64
	total = int64(n * accounts * commits)
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.Set(wrote.Load(), total, "commits")
			}
		}
	}()
	for i, h := range hosts {
		wg.Go(func() { errs[i] = writePosts(ctx, h, dids[i], commits, 16, &wrote) })
	}
	wg.Wait()
	close(stop)
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return hosts, dids, nil
}

// dropped is the number of events the relay dropped so far.
func dropped(r *relay.Relay) int64 {
	d, _ := r.Counts()
	var n int64
	for _, v := range d {
		n += v
	}
	return n
}
