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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conflux-atproto/conflux/appview"
	"github.com/conflux-atproto/conflux/identity"
)

// runAppview follows a relay, indexes app.bsky records and serves the
// app.bsky reads. Every flag has a CONFLUX_APPVIEW_* variable; the flag wins.
func runAppview(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("appview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	relayURL := fs.String("relay", envOr(getenv, "CONFLUX_APPVIEW_RELAY", ""), "subscribeRepos stream to index (CONFLUX_APPVIEW_RELAY)")
	dataDir := fs.String("data", envOr(getenv, "CONFLUX_APPVIEW_DATA", "./conflux-data/appview"), "index directory (CONFLUX_APPVIEW_DATA)")
	listen := fs.String("listen", envOr(getenv, "CONFLUX_APPVIEW_LISTEN", ":2600"), "XRPC address (CONFLUX_APPVIEW_LISTEN)")
	metricsListen := fs.String("metrics-listen", envOr(getenv, "CONFLUX_APPVIEW_METRICS_LISTEN", ":2601"), "Prometheus /metrics address; empty disables (CONFLUX_APPVIEW_METRICS_LISTEN)")
	plcURL := fs.String("plc-url", envOr(getenv, "CONFLUX_PLC_URL", "https://plc.directory"), "PLC directory for signing keys (CONFLUX_PLC_URL)")
	noVerify := fs.Bool("no-verify", envOr(getenv, "CONFLUX_APPVIEW_NO_VERIFY", "") == "true", "trust the relay: skip commit proof and signature checks (CONFLUX_APPVIEW_NO_VERIFY=true)")
	workers := fs.Int("verify-workers", envInt(getenv, "CONFLUX_APPVIEW_VERIFY_WORKERS", 0), "goroutines verifying commits ahead of the ordered index writes, 0 = one per CPU (CONFLUX_APPVIEW_VERIFY_WORKERS)")
	dev := fs.Bool("dev", envOr(getenv, "CONFLUX_DEV", "") == "true", "development: resolve did:web on localhost (CONFLUX_DEV=true)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return fmt.Errorf("%w: appview -h", errUsage)
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: appview takes no arguments, got %q", errUsage, fs.Args())
	}
	if *relayURL == "" {
		return fmt.Errorf("%w: appview needs --relay URL", errUsage)
	}
	res, err := identity.NewResolver(identity.Config{PLCURL: *plcURL, DevLocalhost: *dev})
	if err != nil {
		return fmt.Errorf("identity resolver: %w", err)
	}
	keys, err := identity.NewCache(res, identity.CacheConfig{})
	if err != nil {
		return fmt.Errorf("identity cache: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s, err := appview.New(appview.Config{RelayURL: *relayURL, Dir: *dataDir, Listen: *listen, NoVerify: *noVerify,
		VerifyWorkers: *workers, Resolver: keys, Logger: slog.New(slog.NewTextHandler(stderr, nil)), Registry: reg})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, "appview indexing %s, serving on %s\n", *relayURL, *listen)
	if *metricsListen != "" {
		mln, err := net.Listen("tcp", *metricsListen)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		ms := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ms.Serve(mln) }()
		defer ms.Close()
	}
	return s.Run(ctx)
}
