package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conflux-atproto/conflux/identity/plc"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/pds/synthhost"
)

// devPLCPath is where `conflux pds` mounts the development PLC directory
// when no outside directory is given.
const devPLCPath = "/plc"

type pdsFlags struct {
	listen, dataDir, publicURL, plcURL string
	handleDomain, adminPassword        string
	didMethod, signingAlg              string
	synthUsers                         int
	synthRate                          float64
	synthSeed                          int64
	logLevel                           string
}

func parsePDSFlags(args []string, getenv env, stderr io.Writer) (pdsFlags, error) {
	var f pdsFlags
	fs := flag.NewFlagSet("pds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", envOr(getenv, "CONFLUX_PDS_LISTEN", "127.0.0.1:2583"), "address to serve XRPC and the firehose on")
	fs.StringVar(&f.dataDir, "data", envOr(getenv, "CONFLUX_PDS_DATA", "./conflux-data/pds"), "data directory (Pebble)")
	fs.StringVar(&f.publicURL, "public-url", getenv("CONFLUX_PDS_PUBLIC_URL"), "the host's public origin, written into DID documents (default http://<listen address>)")
	fs.StringVar(&f.plcURL, "plc", getenv("CONFLUX_PLC_URL"), "PLC directory URL; empty serves the development directory at <public-url>"+devPLCPath)
	fs.StringVar(&f.handleDomain, "handle-domain", envOr(getenv, "CONFLUX_PDS_HANDLE_DOMAIN", ".test"), "domain that account handles live under")
	fs.StringVar(&f.adminPassword, "admin-password", getenv("CONFLUX_ADMIN_PASSWORD"), "admin password for any repo (default: generated and printed)")
	fs.StringVar(&f.didMethod, "did-method", "plc", "DID method for new accounts: plc or web")
	fs.StringVar(&f.signingAlg, "signing-alg", "ES256K", "signing key type for new accounts: ES256K or ES256")
	fs.IntVar(&f.synthUsers, "synth-users", 0, "run synthetic activity with this many users (0 = off)")
	fs.Float64Var(&f.synthRate, "synth-rate", 10, "synthetic writes per second (0 = as fast as possible)")
	fs.Int64Var(&f.synthSeed, "synth-seed", 1, "seed of the synthetic content")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: conflux pds [flags]\n\nRuns a repository host: accounts, record writes, and its own subscribeRepos firehose.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, err
		}
		return f, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("%w: pds takes no arguments, got %q", errUsage, fs.Args())
	}
	if f.synthUsers < 0 || f.synthRate < 0 {
		return f, fmt.Errorf("%w: --synth-users and --synth-rate must not be negative", errUsage)
	}
	return f, nil
}

func envOr(getenv env, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q", errUsage, level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runPDS(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	f, err := parsePDSFlags(args, getenv, stderr)
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
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("pds: listen: %w", err)
	}
	defer ln.Close()
	publicURL := strings.TrimSuffix(f.publicURL, "/")
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}
	if f.adminPassword == "" {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		f.adminPassword = hex.EncodeToString(b[:])
		fmt.Fprintf(stdout, "admin password: %s\n", f.adminPassword)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	plcURL := f.plcURL
	if plcURL == "" {
		dir, err := plc.NewDirectory(plc.DirectoryConfig{Dir: filepath.Join(f.dataDir, "plc"), Logger: log})
		if err != nil {
			return fmt.Errorf("pds: development PLC directory: %w", err)
		}
		defer dir.Close()
		mux.Handle(devPLCPath+"/", http.StripPrefix(devPLCPath, dir))
		plcURL = publicURL + devPLCPath
	}
	host, err := pds.New(pds.Config{
		DataDir:       f.dataDir,
		PublicURL:     publicURL,
		PLCURL:        plcURL,
		DIDMethod:     f.didMethod,
		HandleDomains: []string{f.handleDomain},
		AdminPassword: f.adminPassword,
		SigningAlg:    f.signingAlg,
		Logger:        log,
		Registry:      reg,
	})
	if err != nil {
		return fmt.Errorf("pds: %w", err)
	}
	defer host.Close()
	mux.Handle("/", host.Handler())

	fmt.Fprintf(stdout, "pds listening on %s\n", publicURL)
	fmt.Fprintf(stdout, "  firehose  %s/xrpc/com.atproto.sync.subscribeRepos\n", strings.Replace(publicURL, "http", "ws", 1))
	fmt.Fprintf(stdout, "  plc       %s\n", plcURL)
	fmt.Fprintf(stdout, "  metrics   %s/metrics\n", publicURL)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 3)
	go func() { errc <- host.Run(ctx) }()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("pds: serve: %w", err)
			return
		}
		errc <- nil
	}()
	running := 2
	if f.synthUsers > 0 {
		drv, err := synth.New(synth.Config{
			Host:         synthhost.Host{PDS: host},
			Users:        f.synthUsers,
			Rate:         f.synthRate,
			Seed:         f.synthSeed,
			HandleDomain: strings.TrimPrefix(f.handleDomain, "."),
			Logger:       log,
			Metrics:      synth.NewMetrics(reg),
		})
		if err != nil {
			cancel()
			return fmt.Errorf("pds: synthetic activity: %w", err)
		}
		running++
		go func() {
			if err := drv.Run(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("pds: synthetic activity: %w", err)
				return
			}
			errc <- nil
		}()
	}

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		running--
	}
	cancel()
	shutCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := srv.Shutdown(shutCtx); err != nil && first == nil {
		first = err
	}
	for ; running > 0; running-- {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}
