package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/appview"
	"github.com/conflux-atproto/conflux/feedgen"
	"github.com/conflux-atproto/conflux/feedgen/feedfile"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/feedgen/plugins/catposts"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/identity/plc"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/pds/synthhost"
	"github.com/conflux-atproto/conflux/relay"
)

// notBuilt lists the stages of the pipeline that `conflux dev` cannot run
// yet; it says so at start instead of pretending.
var notBuilt []string

type devFlags struct {
	dataDir, bind    string
	portBase         int
	reset            bool
	users            int
	rate             float64
	statusEvery      time.Duration
	logLevel         string
	hostNames        []string
	devAdminPassword string
}

func parseDevFlags(args []string, stderr io.Writer) (devFlags, error) {
	f := devFlags{hostNames: []string{"a", "b"}, devAdminPassword: "dev"}
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.dataDir, "data", "./conflux-data", "data directory for every service")
	fs.BoolVar(&f.reset, "reset", false, "delete the data directory first")
	fs.StringVar(&f.bind, "bind", "127.0.0.1", "address to listen on")
	fs.IntVar(&f.portBase, "port-base", 2580, "first port: metrics +0, PLC +2, hosts +3 and +4, relay +10, appview +20, feedgen +30; 0 picks free ports")
	fs.IntVar(&f.users, "users", 10, "synthetic users per host")
	fs.Float64Var(&f.rate, "rate", 5, "synthetic writes per second per host")
	fs.DurationVar(&f.statusEvery, "status-every", 5*time.Second, "how often to print the status line")
	fs.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, err
		}
		return f, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("%w: dev takes no arguments, got %q", errUsage, fs.Args())
	}
	if f.users < 0 || f.rate < 0 || f.portBase < 0 || f.statusEvery <= 0 {
		return f, fmt.Errorf("%w: --users, --rate and --port-base must not be negative, --status-every must be positive", errUsage)
	}
	return f, nil
}

// devListen opens a listener at base+offset, or on a free port when base is 0.
func devListen(bind string, base, offset int) (net.Listener, string, error) {
	port := 0
	if base > 0 {
		port = base + offset
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(bind, fmt.Sprint(port)))
	if err != nil {
		return nil, "", err
	}
	return ln, "http://" + ln.Addr().String(), nil
}

// devGroup runs servers and services and stops them together.
type devGroup struct {
	errc    chan error
	running int
	servers []*http.Server
}

func (g *devGroup) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	g.servers = append(g.servers, srv)
	g.goRun(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

func (g *devGroup) goRun(fn func() error) {
	g.running++
	go func() { g.errc <- fn() }()
}

func runDev(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	f, err := parseDevFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	if f.reset {
		if err := os.RemoveAll(f.dataDir); err != nil {
			return fmt.Errorf("dev: reset: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &devGroup{errc: make(chan error, 16)}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	serviceReg := func(name string) prometheus.Registerer {
		return prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, reg)
	}

	// The development PLC directory every identity is registered with.
	plcLn, plcURL, err := devListen(f.bind, f.portBase, 2)
	if err != nil {
		return fmt.Errorf("dev: PLC directory: %w", err)
	}
	dir, err := plc.NewDirectory(plc.DirectoryConfig{Dir: filepath.Join(f.dataDir, "plc"), Logger: log})
	if err != nil {
		return fmt.Errorf("dev: PLC directory: %w", err)
	}
	defer dir.Close()
	g.serve(plcLn, dir)

	// Two repository hosts with synthetic users.
	var hostURLs []string
	var hosts []*pds.PDS
	for i, name := range f.hostNames {
		ln, url, err := devListen(f.bind, f.portBase, 3+i)
		if err != nil {
			cancel()
			return fmt.Errorf("dev: host %s: %w", name, err)
		}
		domain := name + ".test"
		host, err := pds.New(pds.Config{
			DataDir: filepath.Join(f.dataDir, "pds-"+name), PublicURL: url, PLCURL: plcURL,
			HandleDomains: []string{"." + domain}, AdminPassword: f.devAdminPassword,
			Logger: log.With("host", name), Registry: serviceReg("pds-" + name),
		})
		if err != nil {
			cancel()
			return fmt.Errorf("dev: host %s: %w", name, err)
		}
		defer host.Close()
		g.serve(ln, host.Handler())
		g.goRun(func() error { return host.Run(ctx) })
		if f.users > 0 {
			drv, err := synth.New(synth.Config{
				Host: synthhost.Host{PDS: host}, Users: f.users, Rate: f.rate, Seed: int64(i + 1),
				HandleDomain: domain, Logger: log.With("host", name), Metrics: synth.NewMetrics(serviceReg("pds-" + name)),
			})
			if err != nil {
				cancel()
				return fmt.Errorf("dev: synthetic activity on %s: %w", name, err)
			}
			g.goRun(func() error {
				if err := drv.Run(ctx); err != nil && ctx.Err() == nil {
					return fmt.Errorf("synthetic activity on %s: %w", name, err)
				}
				return nil
			})
		}
		hostURLs = append(hostURLs, url)
		hosts = append(hosts, host)
	}

	// The relay, crawling both hosts from the start of their logs.
	relayLn, relayURL, err := devListen(f.bind, f.portBase, 10)
	if err != nil {
		cancel()
		return fmt.Errorf("dev: relay: %w", err)
	}
	rl, err := relay.New(relay.Config{
		DataDir: filepath.Join(f.dataDir, "relay"), PLCURL: plcURL, Dev: true,
		AdminPassword: f.devAdminPassword, Logger: log.With("service", "relay"), Registerer: serviceReg("relay"),
	})
	if err != nil {
		cancel()
		return fmt.Errorf("dev: relay: %w", err)
	}
	defer rl.Close()
	g.serve(relayLn, rl.Handler())
	g.goRun(func() error { return rl.Run(ctx) })
	for _, u := range hostURLs {
		if err := rl.AddHost(ctx, u, relay.HostOptions{Backfill: true}); err != nil {
			cancel()
			return fmt.Errorf("dev: relay: crawl %s: %w", u, err)
		}
	}

	// The AppView, indexing the relay's firehose with full verification.
	avLn, avURL, err := devListen(f.bind, f.portBase, 20)
	if err != nil {
		cancel()
		return fmt.Errorf("dev: appview: %w", err)
	}
	resolver, err := identity.NewResolver(identity.Config{PLCURL: plcURL})
	if err != nil {
		cancel()
		return fmt.Errorf("dev: appview: %w", err)
	}
	ids, err := identity.NewCache(resolver, identity.CacheConfig{})
	if err != nil {
		cancel()
		return fmt.Errorf("dev: appview: %w", err)
	}
	av, err := appview.New(appview.Config{
		RelayURL: wsURL(relayURL), Dir: filepath.Join(f.dataDir, "appview"), Resolver: ids,
		HeadFunc: func(context.Context) (int64, error) { return rl.Head(), nil },
		Logger:   log.With("service", "appview"),
		// The relay labels its consumers' metrics with "consumer"; one
		// registry needs the same label names on a metric everywhere.
		Registry: prometheus.WrapRegistererWith(prometheus.Labels{"consumer": "appview"}, serviceReg("appview")),
	})
	if err != nil {
		cancel()
		return fmt.Errorf("dev: appview: %w", err)
	}
	defer av.Close()
	g.serve(avLn, av.Handler())
	// The appview indexes in a runner, like the feeds, so that the dashboard
	// can pause it; av.Run (verification in parallel ahead of the ordered
	// writer) starts again from its stored cursor on resume.
	avRunner := newFeedRunner(func() (runnable, error) { return av, nil })
	g.goRun(func() error { return avRunner.Run(ctx) })
	consumers := map[string]func() int64{"appview": avRunner.Cursor}
	consumerNames := []string{"appview"}

	// The feed generator with three example feeds, each on its own cursor.
	fgLn, fgURL, err := devListen(f.bind, f.portBase, 30)
	if err != nil {
		cancel()
		return fmt.Errorf("dev: feedgen: %w", err)
	}
	feeds, err := devFeeds()
	if err != nil {
		cancel()
		return fmt.Errorf("dev: feedgen: %w", err)
	}
	fgDB, err := pebble.Open(filepath.Join(f.dataDir, "feedgen"), &pebble.Options{Logger: feedgenPebbleLogger{log}})
	if err != nil {
		cancel()
		return fmt.Errorf("dev: feedgen: %w", err)
	}
	defer fgDB.Close()
	fgMetrics, err := feedgen.NewMetrics(serviceReg("feedgen"))
	if err != nil {
		cancel()
		return fmt.Errorf("dev: feedgen: %w", err)
	}
	gen, err := feedgen.New(feedgen.Config{
		DB: fgDB, Feeds: feeds, PublisherDID: devPublisherDID, ServiceDID: devPublisherDID,
		Hostname: "localhost", Logger: log.With("service", "feedgen"), Metrics: fgMetrics,
	})
	if err != nil {
		cancel()
		return fmt.Errorf("dev: feedgen: %w", err)
	}
	g.serve(fgLn, gen.Handler())
	runners := map[string]*feedRunner{"appview": avRunner}
	feedURIs := map[string]string{}
	for _, feed := range feeds.Feeds() {
		h, err := gen.FeedHandler(feed.Name())
		if err != nil {
			cancel()
			return fmt.Errorf("dev: feedgen: %w", err)
		}
		// A runner, so that the dashboard can pause the feed: each resume
		// is a new consumer on the same durable cursor and metrics.
		cfg := consumer.Config{
			URL: wsURL(relayURL), Cursor: 0, Logger: log.With("feed", feed.Name()),
			Metrics: consumer.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"consumer": "feed-" + feed.Name()}, serviceReg("feedgen"))),
			Durable: &consumer.Durable{DB: fgDB, Name: "feedgen/" + feed.Name(), Handler: h},
		}
		if _, err := consumer.New(cfg); err != nil {
			cancel()
			return fmt.Errorf("dev: feedgen: %w", err)
		}
		r := newFeedRunner(func() (runnable, error) { return consumer.New(cfg) })
		g.goRun(func() error { return r.Run(ctx) })
		name := "feed " + feed.Name()
		consumers[name] = r.Cursor
		consumerNames = append(consumerNames, name)
		runners[name] = r
		feedURIs[feed.Name()] = "at://" + devPublisherDID + "/app.bsky.feed.generator/" + feed.Name()
	}

	metricsLn, metricsURL, err := devListen(f.bind, f.portBase, 0)
	if err != nil {
		cancel()
		return fmt.Errorf("dev: metrics: %w", err)
	}
	// The dashboard shares the metrics listener; it posts as an account of
	// the first host.
	dashDID, err := dashboardAccount(ctx, hosts[0])
	if err != nil {
		cancel()
		return fmt.Errorf("dev: %w", err)
	}
	dash := &dashboard{
		host: hosts[0], did: dashDID, reg: reg, relayHead: rl.Head, relayWS: wsURL(relayURL),
		avURL: avURL, fgURL: fgURL, feedURIs: feedURIs, runners: runners,
		client: &http.Client{Timeout: 10 * time.Second}, log: log,
	}
	for _, name := range consumerNames {
		dash.cursors = append(dash.cursors, namedCursor{name: name, cursor: consumers[name]})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	dash.mount(mux)
	g.serve(metricsLn, mux)
	g.goRun(func() error { return dash.run(ctx) })

	fmt.Fprintf(stdout, "conflux dev: data in %s\n", f.dataDir)
	fmt.Fprintf(stdout, "  plc       %s   (development directory)\n", plcURL)
	for i, u := range hostURLs {
		fmt.Fprintf(stdout, "  host %s    %s   firehose %s/xrpc/com.atproto.sync.subscribeRepos\n", f.hostNames[i], u, wsURL(u))
	}
	fmt.Fprintf(stdout, "  relay     %s   firehose %s/xrpc/com.atproto.sync.subscribeRepos\n", relayURL, wsURL(relayURL))
	fmt.Fprintf(stdout, "  appview   %s   reads: /xrpc/app.bsky.actor.getProfile?actor=<handle or DID>, getAuthorFeed, getPostThread, ...\n", avURL)
	fmt.Fprintf(stdout, "  feedgen   %s   feeds:", fgURL)
	for _, feed := range feeds.Feeds() {
		fmt.Fprintf(stdout, " %s", feed.Name())
	}
	fmt.Fprintf(stdout, "   e.g. %s/xrpc/app.bsky.feed.getFeedSkeleton?feed=at://%s/app.bsky.feed.generator/%s\n", fgURL, devPublisherDID, feeds.Feeds()[0].Name())
	fmt.Fprintf(stdout, "  dashboard %s/   (posts as %s on host %s)\n", metricsURL, dashboardHandle, f.hostNames[0])
	fmt.Fprintf(stdout, "  metrics   %s/metrics\n", metricsURL)
	fmt.Fprintf(stdout, "  admin password of hosts and relay: %s\n", f.devAdminPassword)
	if len(notBuilt) > 0 {
		fmt.Fprintf(stdout, "  not built yet: %s\n", strings.Join(notBuilt, ", "))
	}

	var first error
	tick := time.NewTicker(f.statusEvery)
	defer tick.Stop()
	var prev map[string]float64
	prevAt := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-g.errc:
			g.running--
			if err != nil {
				first = err
				break loop
			}
		case now := <-tick.C:
			heads := headSeqs(reg)
			line := statusLine(heads, prev, now.Sub(prevAt))
			for _, name := range consumerNames {
				cur := consumers[name]()
				line += fmt.Sprintf(" | %s cursor=%d lag=%d", name, cur, rl.Head()-cur)
			}
			fmt.Fprintln(stdout, line)
			prev, prevAt = heads, now
		}
	}
	cancel()
	shutCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	for _, srv := range g.servers {
		if err := srv.Shutdown(shutCtx); err != nil && first == nil {
			first = err
		}
	}
	for ; g.running > 0; g.running-- {
		if err := <-g.errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

// headSeqs reads each service's event-log head from the metrics registry.
func headSeqs(g prometheus.Gatherer) map[string]float64 {
	out := map[string]float64{}
	mfs, err := g.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "conflux_eventlog_head_seq" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

// statusLine is one line: each service's head seq and events/s since the last line.
func statusLine(heads, prev map[string]float64, d time.Duration) string {
	names := make([]string, 0, len(heads))
	for n := range heads {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("status:")
	for _, n := range names {
		fmt.Fprintf(&b, " %s seq=%.0f", n, heads[n])
		if p, ok := prev[n]; ok && d > 0 {
			fmt.Fprintf(&b, " (%.0f/s)", (heads[n]-p)/d.Seconds())
		}
	}
	return b.String()
}

// devPublisherDID publishes the dev feeds: their URIs are
// at://did:web:localhost/app.bsky.feed.generator/<name>.
const devPublisherDID = "did:web:localhost"

// devFeedFile holds two of the dev feeds as a declarative feed file; the
// third, cats, is the example Go plugin.
const devFeedFile = `{"feeds": [
  {"name": "japanese", "rule": {"lang": ["ja"]}},
  {"name": "pictures", "rule": {"all": [{"hasMedia": true}, {"not": {"reply": true}}]}}
]}`

// devFeeds registers the dev feeds: a Go plugin and two feed-file feeds.
func devFeeds() (*plugin.Registry, error) {
	var reg plugin.Registry
	if err := reg.Register(catposts.Feed{}); err != nil {
		return nil, err
	}
	fromFile, err := feedfile.Parse([]byte(devFeedFile))
	if err != nil {
		return nil, err
	}
	for _, f := range fromFile {
		if err := reg.Register(f); err != nil {
			return nil, err
		}
	}
	return &reg, nil
}
