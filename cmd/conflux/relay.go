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
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conflux-atproto/conflux/relay"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// runRelay runs the relay: hosts' streams in, one verified firehose out.
// Every flag has a CONFLUX_* environment variable; the flag wins.
func runRelay(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", envOr(getenv, "CONFLUX_RELAY_DATA", "./conflux-data/relay"), "state and event log directory (CONFLUX_RELAY_DATA)")
	listen := fs.String("listen", envOr(getenv, "CONFLUX_RELAY_LISTEN", ":2590"), "API and firehose address (CONFLUX_RELAY_LISTEN)")
	metricsListen := fs.String("metrics-listen", envOr(getenv, "CONFLUX_RELAY_METRICS_LISTEN", ":2591"), "Prometheus /metrics address; empty disables (CONFLUX_RELAY_METRICS_LISTEN)")
	plcURL := fs.String("plc-url", envOr(getenv, "CONFLUX_PLC_URL", "https://plc.directory"), "PLC directory (CONFLUX_PLC_URL)")
	adminPW := fs.String("admin-password", envOr(getenv, "CONFLUX_RELAY_ADMIN_PASSWORD", ""), "admin API password; empty disables it (CONFLUX_RELAY_ADMIN_PASSWORD)")
	dev := fs.Bool("dev", envOr(getenv, "CONFLUX_DEV", "") == "true", "development: allow localhost, private addresses, ws:// and any port (CONFLUX_DEV=true)")
	retention := fs.Duration("retention", envDuration(getenv, "CONFLUX_RELAY_RETENTION", 72*time.Hour), "event replay window (CONFLUX_RELAY_RETENTION)")
	rateLimit := fs.Int("rate-limit", envInt(getenv, "CONFLUX_RELAY_RATE_LIMIT", 0), "per-host events per second, 0 = none (CONFLUX_RELAY_RATE_LIMIT)")
	rateLimitHour := fs.Int("rate-limit-hour", envInt(getenv, "CONFLUX_RELAY_RATE_LIMIT_HOUR", 0), "per-host events per sliding hour, 0 = none (CONFLUX_RELAY_RATE_LIMIT_HOUR)")
	rateLimitDay := fs.Int("rate-limit-day", envInt(getenv, "CONFLUX_RELAY_RATE_LIMIT_DAY", 0), "per-host events per sliding day, 0 = none (CONFLUX_RELAY_RATE_LIMIT_DAY)")
	accountLimit := fs.Int64("account-limit", int64(envInt(getenv, "CONFLUX_RELAY_ACCOUNT_LIMIT", relay.DefaultAccountLimit)), "accounts per new host (CONFLUX_RELAY_ACCOUNT_LIMIT)")
	backfill := fs.Bool("backfill", envOr(getenv, "CONFLUX_RELAY_BACKFILL", "") == "true", "hosts given here start from their oldest retained event, not live (CONFLUX_RELAY_BACKFILL=true)")
	hostsFile := fs.String("hosts-file", envOr(getenv, "CONFLUX_RELAY_HOSTS_FILE", ""), "file of hosts, one per line: URL [lenient]; # comments (CONFLUX_RELAY_HOSTS_FILE)")
	var hosts, lenient listFlag
	fs.Var(&hosts, "host", "subscribe to this host (repeatable; CONFLUX_RELAY_HOSTS, comma-separated)")
	fs.Var(&lenient, "lenient-host", "subscribe leniently: inversion failures are warnings (repeatable; CONFLUX_RELAY_LENIENT_HOSTS)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return fmt.Errorf("%w: relay -h", errUsage)
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: relay takes no arguments, got %q", errUsage, fs.Args())
	}
	hosts = append(hosts, splitList(getenv("CONFLUX_RELAY_HOSTS"))...)
	lenient = append(lenient, splitList(getenv("CONFLUX_RELAY_LENIENT_HOSTS"))...)
	if *hostsFile != "" {
		strict, loose, err := readHostsFile(*hostsFile)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		hosts, lenient = append(hosts, strict...), append(lenient, loose...)
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r, err := relay.New(relay.Config{
		DataDir: *dataDir, PLCURL: *plcURL, Dev: *dev, Retention: *retention, RateLimit: *rateLimit,
		RateLimitHour: *rateLimitHour, RateLimitDay: *rateLimitDay,
		DefaultAccountLimit: *accountLimit, AdminPassword: *adminPW, Logger: logger, Registerer: reg,
	})
	if err != nil {
		return err
	}
	defer r.Close()
	for i, list := range [][]string{hosts, lenient} {
		for _, h := range list {
			if err := r.AddHost(ctx, h, relay.HostOptions{Lenient: i == 1, Backfill: *backfill}); err != nil {
				return fmt.Errorf("%w: host %s: %w", errUsage, h, err)
			}
		}
	}
	return serveRelay(ctx, r, reg, *listen, *metricsListen, stdout)
}

// serveRelay runs the relay and its listeners until ctx ends.
func serveRelay(ctx context.Context, r *relay.Relay, reg *prometheus.Registry, listen, metricsListen string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	api := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	servers := []*http.Server{api}
	fmt.Fprintf(stdout, "relay listening on %s\n", ln.Addr())
	errc := make(chan error, 3)
	go func() { errc <- ignoreClosed(api.Serve(ln)) }()
	if metricsListen != "" {
		mln, err := net.Listen("tcp", metricsListen)
		if err != nil {
			api.Close()
			return fmt.Errorf("metrics listen: %w", err)
		}
		fmt.Fprintf(stdout, "metrics listening on %s\n", mln.Addr())
		ms := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, ms)
		go func() { errc <- ignoreClosed(ms.Serve(mln)) }()
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- r.Run(runCtx) }()
	pending := len(servers) + 1
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		pending--
	}
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	for _, s := range servers {
		_ = s.Shutdown(shutdownCtx)
	}
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envDuration(getenv env, key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(getenv(key)); err == nil {
		return d
	}
	return def
}

func envInt(getenv env, key string, def int) int {
	if n, err := strconv.Atoi(getenv(key)); err == nil {
		return n
	}
	return def
}

// readHostsFile reads "URL [lenient]" lines; blank lines and # comments are
// skipped.
func readHostsFile(path string) (strict, lenient []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("hosts file: %w", err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case len(f) == 1:
			strict = append(strict, f[0])
		case len(f) == 2 && f[1] == "lenient":
			lenient = append(lenient, f[0])
		default:
			return nil, nil, fmt.Errorf("hosts file %s line %d: want URL [lenient], got %q", path, i+1, line)
		}
	}
	return strict, lenient, nil
}
