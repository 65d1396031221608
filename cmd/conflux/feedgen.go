package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conflux-atproto/conflux/feedgen"
	"github.com/conflux-atproto/conflux/feedgen/feedfile"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/feedgen/plugins/catposts"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
)

// expireEvery is how often items past their feed's retention are dropped.
const expireEvery = 10 * time.Minute

// runFeedgen follows a relay and serves the feeds of a feed file (or the
// example feed); "feedgen explain" is runFeedgenExplain.
func runFeedgen(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "explain" {
		return runFeedgenExplain(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("feedgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	relayURL := fs.String("relay", envOr(getenv, "CONFLUX_FEEDGEN_RELAY", ""), "relay or host to follow (CONFLUX_FEEDGEN_RELAY)")
	feedsFile := fs.String("feeds", envOr(getenv, "CONFLUX_FEEDGEN_FEEDS", ""), "declarative feed file (JSON, see feedgen/feedfile); default: the example cats feed (CONFLUX_FEEDGEN_FEEDS)")
	dataDir := fs.String("data", envOr(getenv, "CONFLUX_FEEDGEN_DATA", "./conflux-data/feedgen"), "index directory (CONFLUX_FEEDGEN_DATA)")
	listen := fs.String("listen", envOr(getenv, "CONFLUX_FEEDGEN_LISTEN", ":2610"), "XRPC address (CONFLUX_FEEDGEN_LISTEN)")
	publisher := fs.String("publisher", envOr(getenv, "CONFLUX_FEEDGEN_PUBLISHER", ""), "DID whose repo holds the feed records (CONFLUX_FEEDGEN_PUBLISHER)")
	metricsListen := fs.String("metrics-listen", envOr(getenv, "CONFLUX_FEEDGEN_METRICS_LISTEN", ":2611"), "Prometheus /metrics address; empty disables (CONFLUX_FEEDGEN_METRICS_LISTEN)")
	authMode := fs.String("auth", envOr(getenv, "CONFLUX_FEEDGEN_AUTH", "optional"), "service-auth JWT: off, optional (checked when sent) or required (CONFLUX_FEEDGEN_AUTH)")
	plcURL := fs.String("plc-url", envOr(getenv, "CONFLUX_PLC_URL", identity.DefaultPLCURL), "PLC directory for token issuers (CONFLUX_PLC_URL)")
	hostname := fs.String("hostname", envOr(getenv, "CONFLUX_FEEDGEN_HOSTNAME", "localhost"), "public hostname; the service DID is did:web:<hostname> (CONFLUX_FEEDGEN_HOSTNAME)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return fmt.Errorf("%w: feedgen -h", errUsage)
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: feedgen takes no arguments, got %q", errUsage, fs.Args())
	}
	if *relayURL == "" || *publisher == "" {
		return fmt.Errorf("%w: feedgen needs --relay and --publisher", errUsage)
	}
	reg, err := feedRegistry(*feedsFile)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	auth, err := feedgenAuth(*authMode, *plcURL)
	if err != nil {
		return err
	}
	promReg := prometheus.NewRegistry()
	metrics, err := feedgen.NewMetrics(promReg)
	if err != nil {
		return err
	}
	db, err := pebble.Open(filepath.Join(*dataDir, "index"), &pebble.Options{Logger: feedgenPebbleLogger{logger}})
	if err != nil {
		return fmt.Errorf("open feed index: %w", err)
	}
	defer db.Close()
	g, err := feedgen.New(feedgen.Config{
		DB: db, Feeds: reg, PublisherDID: *publisher, ServiceDID: "did:web:" + *hostname,
		Hostname: *hostname, Logger: logger, Auth: auth, Metrics: metrics,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	// One consumer per feed, each with its own cursor: a feed added to the
	// file starts at cursor 0 (the relay's oldest retained event) and
	// backfills while the others continue live; its progress is the
	// consumer's progress line, tagged with the feed.
	var cs []*consumer.Consumer
	for _, f := range reg.Feeds() {
		h, err := g.FeedHandler(f.Name())
		if err != nil {
			return err
		}
		c, err := consumer.New(consumer.Config{
			URL: *relayURL, Cursor: 0, Logger: logger.With("feed", f.Name()),
			Durable: &consumer.Durable{DB: db, Name: "feedgen/" + f.Name(), Handler: h},
		})
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		cs = append(cs, c)
	}
	if *metricsListen != "" {
		mln, err := net.Listen("tcp", *metricsListen)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		ms := &http.Server{Handler: promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		fmt.Fprintf(stdout, "metrics listening on %s\n", mln.Addr())
		go func() { _ = ms.Serve(mln) }()
		defer ms.Close()
	}
	return serveFeedgen(ctx, g, cs, *listen, stdout, logger)
}

func feedgenAuth(mode, plcURL string) (*feedgen.AuthConfig, error) {
	switch mode {
	case "off":
		return nil, nil
	case "optional", "required":
	default:
		return nil, fmt.Errorf("%w: --auth %q (want off, optional or required)", errUsage, mode)
	}
	res, err := identity.NewResolver(identity.Config{PLCURL: plcURL})
	if err != nil {
		return nil, err
	}
	cache, err := identity.NewCache(res, identity.CacheConfig{})
	if err != nil {
		return nil, err
	}
	return &feedgen.AuthConfig{Keys: cache, Required: mode == "required"}, nil
}

func serveFeedgen(ctx context.Context, g *feedgen.Generator, cs []*consumer.Consumer, listen string, stdout io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "feedgen listening on %s\n", ln.Addr())
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2+len(cs))
	go func() { errc <- ignoreClosed(srv.Serve(ln)) }()
	for _, c := range cs {
		go func() { errc <- c.Run(runCtx) }()
	}
	go func() {
		t := time.NewTicker(expireEvery)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				errc <- nil
				return
			case now := <-t.C:
				if n, err := g.Expire(now); err != nil {
					errc <- err
					return
				} else if n > 0 {
					log.Info("expired feed items", "count", n)
				}
			}
		}
	}()
	var first error
	pending := 2 + len(cs)
	select {
	case <-ctx.Done():
	case first = <-errc:
		pending--
	}
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = srv.Shutdown(shutdownCtx)
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func feedRegistry(path string) (*plugin.Registry, error) {
	var reg plugin.Registry
	if path == "" {
		if err := reg.Register(catposts.Feed{}); err != nil {
			return nil, err
		}
		return &reg, nil
	}
	feeds, err := feedfile.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	for _, f := range feeds {
		if err := reg.Register(f); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	return &reg, nil
}

// feedgenPebbleLogger sends Pebble's lines to slog (Info at Debug: Pebble
// is chatty about WAL recovery).
type feedgenPebbleLogger struct{ log *slog.Logger }

func (l feedgenPebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l feedgenPebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l feedgenPebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
	os.Exit(1)
}
