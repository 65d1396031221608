package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// E2EConfig configures E2E. Zero values mean the defaults.
type E2EConfig struct {
	Common
	Rate     float64       // background commits/s on the hosts, default 2,000
	Hosts    int           // default 2
	Users    int           // synthetic users per host, default 50
	Probes   int           // probe posts, default 300
	Interval time.Duration // pause between probes, default 20 ms
	Warmup   time.Duration // background load before the first probe, default 2 s
	// Budget bounds the probe phase (default 30 s): probes not started by
	// then are not made.
	Budget time.Duration
	// NoSync turns every fsync off (hosts, relay, appview, feeds).
	NoSync bool
	// AppviewTrust runs the AppView without its own proof and signature
	// checks (a relay it trusts); by default it verifies every commit again.
	AppviewTrust bool
	// RelayWorkers is the relay's HostWorkers (0: its default): how many
	// of one host's events it verifies and appends at once.
	RelayWorkers int
}

func (c E2EConfig) withDefaults() E2EConfig {
	setDefault(&c.Rate, 2000)
	setDefault(&c.Hosts, 2)
	setDefault(&c.Users, 50)
	setDefault(&c.Probes, 300)
	setDefault(&c.Interval, 20*time.Millisecond)
	setDefault(&c.Warmup, 2*time.Second)
	setDefault(&c.Budget, 30*time.Second)
	return c
}

// E2EResult is what E2E measured. Every latency runs from the moment the
// probe's write was handed to the host.
type E2EResult struct {
	Bound        Bound   `json:"bound"`
	TargetRate   float64 `json:"targetRate"`
	AchievedRate float64 `json:"achievedRate"` // relay events/s during the probe phase
	Fsync        bool    `json:"fsync"`
	AppviewTrust bool    `json:"appviewTrustsRelay"`
	Probes       int     `json:"probes"`
	Lost         int     `json:"probesNotSeen"` // not visible within probeTimeout
	// Cumulative time to each hop.
	Commit       Latency `json:"hostCommitAcked"`
	HostFirehose Latency `json:"hostFirehose"`
	Relay        Latency `json:"relayOut"`
	Appview      Latency `json:"appviewVisible"`
	Feed         Latency `json:"feedVisible"`
	Both         Latency `json:"visibleEverywhere"`
	// Hops is where the time goes: each hop's own share per probe (the
	// difference between consecutive cumulative times).
	Hops []Hop `json:"hops"`
	// ConfirmLate counts probes the observer reported but the HTTP read did
	// not show yet (then read again until it did): should be 0.
	ConfirmLate int     `json:"confirmLate"`
	Cores       float64 `json:"cpuCores"`
	Pass        bool    `json:"pass"` // Both.P99 under 100 ms at the target rate
}

// Table implements Result.
func (r *E2EResult) Table() Table {
	t := Table{Title: "e2e"}
	t.add("signature bound", "%s", r.Bound)
	t.add("background load", "%.0f events/s through the relay (target %.0f commits/s on the hosts)", r.AchievedRate, r.TargetRate)
	t.add("probes", "%d (not seen within %s: %d; HTTP read behind the observer: %d)", r.Probes, probeTimeout, r.Lost, r.ConfirmLate)
	t.add("host commit acknowledged", "%s", r.Commit)
	t.add("  on the host's firehose", "%s", r.HostFirehose)
	t.add("  out of the relay", "%s", r.Relay)
	t.add("  in the appview (getPosts)", "%s", r.Appview)
	t.add("  in the feed skeleton", "%s", r.Feed)
	t.add("  visible in both", "%s", r.Both)
	for _, h := range r.Hops {
		t.add("hop: "+h.Name, "%s", h.Latency)
	}
	t.add("CPU", "%.2f cores", r.Cores)
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	t.add("acceptance: p99 < 100 ms", "%s (p99 %.1f ms at %.0f events/s)", verdict, r.Both.P99ms, r.AchievedRate)
	t.note("each probe post is committed on host h0 one at a time; every time runs from handing the write to the host (fsync %v everywhere; the appview verifies every commit again: %v)", r.Fsync, !r.AppviewTrust)
	t.note("hops: the host's ApplyWrites returning; a tap on the host's firehose; a tap on the relay's firehose (after verification and the relay's log append); the appview and the feed consumer committing the batch that holds the relay's seq of the probe")
	t.note("visibility is observed, not polled: the appview's and the feed consumer's OnCommit hook (consumer.Durable.OnCommit) reports each committed batch; each observation is then confirmed by one HTTP read (getPosts; getFeedSkeleton of a feed that keeps every probe post)")
	return t
}

// Hop is one stage's own latency.
type Hop struct {
	Name    string  `json:"name"`
	Latency Latency `json:"latency"`
}

// probeTimeout bounds the wait for one probe.
const probeTimeout = 10 * time.Second

// E2E measures commit-to-visibility latency under background load.
func E2E(ctx context.Context, cfg E2EConfig) (*E2EResult, error) {
	cfg = cfg.withDefaults()
	p := cfg.Progress
	res := &E2EResult{TargetRate: cfg.Rate, Fsync: !cfg.NoSync, AppviewTrust: cfg.AppviewTrust}
	cl, err := begin(ctx, cfg.Common, &res.Bound)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	p.Phase("starting the pipeline")
	hosts := make([]*host, cfg.Hosts)
	for i := range hosts {
		if hosts[i], err = cl.addHost(fmt.Sprintf("h%d", i), cfg.NoSync); err != nil {
			return nil, err
		}
	}
	probeHost := hosts[0]
	acct, err := probeHost.pds.CreateAccount(ctx, pds.CreateAccountInput{Handle: "probe." + probeHost.name + ".test"})
	if err != nil {
		return nil, fmt.Errorf("bench: probe account: %w", err)
	}
	r, relayURL, err := cl.startRelay(relayOptions{noSync: cfg.NoSync, workers: cfg.RelayWorkers})
	if err != nil {
		return nil, err
	}
	if err := addHosts(ctx, r, hosts); err != nil {
		return nil, err
	}
	avMark, feedMark := newWatermark(), newWatermark()
	_, avURL, err := cl.startAppview("appview", relayURL, cfg.AppviewTrust, cfg.NoSync, avMark.observe)
	if err != nil {
		return nil, err
	}
	const probeFeed = "probes"
	_, fgURL, err := cl.startFeedgen(relayURL, []plugin.Feed{authorFeed{probeFeed, acct.DID}}, cfg.NoSync,
		map[string]func(int, consumer.Event){probeFeed: feedMark.observe})
	if err != nil {
		return nil, err
	}
	hostTap, relayTap := newRevWatch(acct.DID), newRevWatch(acct.DID)
	for name, u := range map[string]string{"host tap": probeHost.url, "relay tap": relayURL} {
		w := hostTap
		if name == "relay tap" {
			w = relayTap
		}
		c, err := consumer.New(consumer.Config{URL: wsURL(u), Cursor: consumer.NoCursor, Handler: w, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		cl.run(name, c.Run, nil)
	}

	p.Phase("creating synthetic users")
	if _, err := startLoad(ctx, cl, hosts, cfg.Users, cfg.Rate, nil); err != nil {
		return nil, err
	}
	p.Phase("warming up under load")
	time.Sleep(cfg.Warmup)

	p.Phase("probing")
	pr := &prober{host: probeHost, did: acct.DID, hostTap: hostTap, relayTap: relayTap, av: avMark, feed: feedMark,
		avURL: avURL, fgURL: fgURL, feedURI: feedURI(probeFeed), client: &http.Client{Timeout: 5 * time.Second}}
	var s samples
	meter := startCPU()
	head0, start := r.Head(), time.Now()
	for i := range cfg.Probes {
		if time.Since(start) > cfg.Budget {
			break
		}
		if err := cl.err(); err != nil {
			return nil, err
		}
		if err := pr.probe(ctx, i, &s, res); err != nil {
			return nil, err
		}
		res.Probes++
		p.Set(int64(i+1), int64(cfg.Probes), fmt.Sprintf("last %.1f ms, relay seq %d", ms(s.both[len(s.both)-1]), r.Head()))
		time.Sleep(cfg.Interval)
	}
	res.AchievedRate = float64(r.Head()-head0) / time.Since(start).Seconds()
	res.Cores = meter.cores()
	res.Commit, res.HostFirehose, res.Relay = summarize(s.commit), summarize(s.hostFH), summarize(s.relay)
	res.Appview, res.Feed, res.Both = summarize(s.appview), summarize(s.feed), summarize(s.both)
	res.Hops = s.hops()
	res.Pass = res.Lost == 0 && res.Both.N > 0 && res.Both.P99ms < 100 && res.AchievedRate >= 0.9*cfg.Rate
	p.Done()
	return res, nil
}

type samples struct {
	commit, hostFH, relay, appview, feed, both []time.Duration
}

// hops splits the cumulative times into each stage's own share. A share
// can be slightly negative: the taps are separate subscribers, scheduled
// independently.
func (s *samples) hops() []Hop {
	diff := func(a, b []time.Duration) []time.Duration {
		out := make([]time.Duration, len(a))
		for i := range a {
			out[i] = a[i] - b[i]
		}
		return out
	}
	return []Hop{
		{"host commit (ApplyWrites)", summarize(s.commit)},
		{"host ack -> host firehose", summarize(diff(s.hostFH, s.commit))},
		{"host firehose -> relay out", summarize(diff(s.relay, s.hostFH))},
		{"relay out -> appview committed", summarize(diff(s.appview, s.relay))},
		{"relay out -> feed committed", summarize(diff(s.feed, s.relay))},
	}
}

// prober commits probe posts and follows each through the pipeline.
type prober struct {
	host              *host
	did               string
	hostTap, relayTap *revWatch
	av, feed          *watermark
	avURL, fgURL      string
	feedURI           string
	client            *http.Client
}

func (pr *prober) probe(ctx context.Context, i int, s *samples, res *E2EResult) error {
	t0 := time.Now()
	out, err := pr.host.pds.ApplyWrites(ctx, pr.did, []pds.Write{{Action: "create", Collection: "app.bsky.feed.post",
		Value: post(fmt.Sprintf("probe %d", i))}}, cid.Undef)
	if err != nil {
		return fmt.Errorf("bench: probe %d: %w", i, err)
	}
	tCommit := time.Now()
	uri := out.Results[0].URI
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	hostSeen, err := pr.hostTap.wait(pctx, out.Rev)
	if err != nil {
		return pr.lost(ctx, res)
	}
	relaySeen, err := pr.relayTap.wait(pctx, out.Rev)
	if err != nil {
		return pr.lost(ctx, res)
	}
	tAV, err := pr.av.wait(pctx, relaySeen.seq)
	if err != nil {
		return pr.lost(ctx, res)
	}
	tFeed, err := pr.feed.wait(pctx, relaySeen.seq)
	if err != nil {
		return pr.lost(ctx, res)
	}
	// Confirm by reading, as a client would; a miss means the observer ran
	// ahead of what is served (it must not), so read again until it shows.
	late := false
	for !pr.inAppview(pctx, uri) || !pr.inFeed(pctx, uri) {
		late = true
		if pctx.Err() != nil {
			return pr.lost(ctx, res)
		}
		time.Sleep(time.Millisecond)
	}
	if late {
		res.ConfirmLate++
	}
	s.commit = append(s.commit, tCommit.Sub(t0))
	s.hostFH = append(s.hostFH, hostSeen.at.Sub(t0))
	s.relay = append(s.relay, relaySeen.at.Sub(t0))
	s.appview = append(s.appview, tAV.Sub(t0))
	s.feed = append(s.feed, tFeed.Sub(t0))
	s.both = append(s.both, max(tAV.Sub(t0), tFeed.Sub(t0)))
	return nil
}

// lost counts a probe that did not arrive in time; only the caller's own
// cancellation is an error.
func (pr *prober) lost(ctx context.Context, res *E2EResult) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.Lost++
	return nil
}

func (pr *prober) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := pr.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (pr *prober) inAppview(ctx context.Context, uri string) bool {
	var out struct {
		Posts []struct {
			URI string `json:"uri"`
		} `json:"posts"`
	}
	err := pr.getJSON(ctx, pr.avURL+"/xrpc/app.bsky.feed.getPosts?uris="+url.QueryEscape(uri), &out)
	return err == nil && len(out.Posts) == 1 && out.Posts[0].URI == uri
}

func (pr *prober) inFeed(ctx context.Context, uri string) bool {
	var out struct {
		Feed []struct {
			Post string `json:"post"`
		} `json:"feed"`
	}
	// Probes are sequential and the feed is newest first: the probe is
	// the first item once it is visible.
	err := pr.getJSON(ctx, pr.fgURL+"/xrpc/app.bsky.feed.getFeedSkeleton?limit=1&feed="+url.QueryEscape(pr.feedURI), &out)
	return err == nil && len(out.Feed) > 0 && out.Feed[0].Post == uri
}

// revWatch is a firehose tap handler that notes when each commit of one
// account arrived, by rev, and the seq it had on that stream.
type revWatch struct {
	did string

	mu     sync.Mutex
	seen   map[string]revMark
	notify chan struct{} // closed and replaced on each new mark
}

type revMark struct {
	seq int64
	at  time.Time
}

func newRevWatch(did string) *revWatch {
	return &revWatch{did: did, seen: map[string]revMark{}, notify: make(chan struct{})}
}

// HandleEvent implements consumer.Handler.
func (w *revWatch) HandleEvent(_ context.Context, ev consumer.Event) error {
	c, ok := ev.Frame.Msg.(*firehose.Commit)
	if !ok || c.Repo != w.did {
		return nil
	}
	now := time.Now()
	w.mu.Lock()
	w.seen[c.Rev] = revMark{ev.Seq, now}
	close(w.notify)
	w.notify = make(chan struct{})
	w.mu.Unlock()
	return nil
}

func (w *revWatch) wait(ctx context.Context, rev string) (revMark, error) {
	for {
		w.mu.Lock()
		m, ok := w.seen[rev]
		ch := w.notify
		w.mu.Unlock()
		if ok {
			return m, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return revMark{}, errors.New("bench: probe not seen in time")
		}
	}
}
