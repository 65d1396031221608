package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"sort"
	"time"

	"github.com/conflux-atproto/conflux/bench"
)

// benchScenario registers a scenario's flags on fs and returns what runs it
// with the parsed flags and the shared settings.
type benchScenario struct {
	summary string
	flags   func(fs *flag.FlagSet) func(ctx context.Context, c bench.Common) (bench.Result, error)
}

func benchScenarios() map[string]benchScenario {
	return map[string]benchScenario{
		"relay-ingest": {"N hosts x M accounts of signed commits through the relay's full verification", func(fs *flag.FlagSet) func(context.Context, bench.Common) (bench.Result, error) {
			var cfg bench.RelayIngestConfig
			fs.IntVar(&cfg.Hosts, "hosts", 10, "hosts")
			fs.IntVar(&cfg.Accounts, "accounts", 500, "accounts per host")
			fs.IntVar(&cfg.Commits, "commits", 6, "commits per account")
			fs.BoolVar(&cfg.NoSync, "nosync", false, "run the relay without fsync")
			fs.DurationVar(&cfg.Timeout, "timeout", 40*time.Second, "bound on the ingest phase")
			return func(ctx context.Context, c bench.Common) (bench.Result, error) {
				cfg.Common = c
				return bench.RelayIngest(ctx, cfg)
			}
		}},
		"fanout": {"K live subscribers to the relay while hosts write at a rate", func(fs *flag.FlagSet) func(context.Context, bench.Common) (bench.Result, error) {
			var cfg bench.FanoutConfig
			fs.IntVar(&cfg.Subscribers, "subscribers", 100, "live subscribers")
			fs.Float64Var(&cfg.Rate, "rate", 2000, "commits per second written on the hosts")
			fs.IntVar(&cfg.Hosts, "hosts", 2, "hosts")
			fs.IntVar(&cfg.Users, "users", 100, "synthetic users per host")
			fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window")
			fs.BoolVar(&cfg.NoSync, "nosync", false, "hosts and relay without fsync")
			fs.IntVar(&cfg.RelayWorkers, "relay-workers", 0, "the relay's workers per host (0: its default)")
			return func(ctx context.Context, c bench.Common) (bench.Result, error) {
				cfg.Common = c
				return bench.Fanout(ctx, cfg)
			}
		}},
		"e2e": {"probe posts under background load: commit to visible in the appview and a feed", func(fs *flag.FlagSet) func(context.Context, bench.Common) (bench.Result, error) {
			var cfg bench.E2EConfig
			fs.Float64Var(&cfg.Rate, "rate", 2000, "background commits per second on the hosts")
			fs.IntVar(&cfg.Hosts, "hosts", 2, "hosts")
			fs.IntVar(&cfg.Users, "users", 50, "synthetic users per host")
			fs.IntVar(&cfg.Probes, "probes", 300, "probe posts")
			fs.DurationVar(&cfg.Interval, "interval", 20*time.Millisecond, "pause between probes")
			fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "background load before the first probe")
			fs.DurationVar(&cfg.Budget, "budget", 30*time.Second, "bound on the probe phase")
			fs.BoolVar(&cfg.NoSync, "nosync", false, "every service without fsync")
			fs.BoolVar(&cfg.AppviewTrust, "appview-trust", false, "the appview trusts the relay (no second proof and signature check)")
			fs.IntVar(&cfg.RelayWorkers, "relay-workers", 0, "the relay's workers per host (0: its default)")
			return func(ctx context.Context, c bench.Common) (bench.Result, error) {
				cfg.Common = c
				return bench.E2E(ctx, cfg)
			}
		}},
		"replay": {"one subscriber from cursor 0 over a retained log of N events", func(fs *flag.FlagSet) func(context.Context, bench.Common) (bench.Result, error) {
			var cfg bench.ReplayConfig
			fs.IntVar(&cfg.Events, "events", 200_000, "retained events")
			fs.DurationVar(&cfg.Timeout, "timeout", 20*time.Second, "bound on each replay")
			return func(ctx context.Context, c bench.Common) (bench.Result, error) {
				cfg.Common = c
				return bench.Replay(ctx, cfg)
			}
		}},
		"appview-index": {"the AppView indexing a pre-recorded stream, verification off and on", func(fs *flag.FlagSet) func(context.Context, bench.Common) (bench.Result, error) {
			var cfg bench.AppviewIndexConfig
			fs.IntVar(&cfg.Users, "users", 100, "synthetic users")
			fs.IntVar(&cfg.Writes, "writes", 15_000, "synthetic commits in the recorded stream")
			fs.DurationVar(&cfg.Timeout, "timeout", 20*time.Second, "bound on each indexing run")
			return func(ctx context.Context, c bench.Common) (bench.Result, error) {
				cfg.Common = c
				return bench.AppviewIndex(ctx, cfg)
			}
		}},
		"feed-serve": {"concurrent getFeedSkeleton clients on a large feed, closed loop and paced", func(fs *flag.FlagSet) func(context.Context, bench.Common) (bench.Result, error) {
			var cfg bench.FeedServeConfig
			fs.IntVar(&cfg.Posts, "posts", 100_000, "posts in the feed")
			fs.IntVar(&cfg.Clients, "clients", 500, "concurrent clients")
			fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "duration of each mode")
			fs.DurationVar(&cfg.Period, "period", 250*time.Millisecond, "paced clients: time between one client's requests")
			return func(ctx context.Context, c bench.Common) (bench.Result, error) {
				cfg.Common = c
				return bench.FeedServe(ctx, cfg)
			}
		}},
	}
}

func runBench(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	scenarios := benchScenarios()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		printBenchHelp(stderr, scenarios)
		if len(args) == 0 {
			return fmt.Errorf("%w: bench needs a scenario", errUsage)
		}
		return nil
	}
	sc, ok := scenarios[args[0]]
	if !ok {
		printBenchHelp(stderr, scenarios)
		return fmt.Errorf("%w: unknown scenario %q", errUsage, args[0])
	}
	fs := flag.NewFlagSet("bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout (the progress bar stays on stderr)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	dir := fs.String("dir", "", "parent of the temporary data directory (removed at the end); default the system's")
	boundFor := fs.Duration("bound-duration", bench.DefaultBoundDuration, "how long to measure the signature-verification bound")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (every service in this process) to this file")
	traceFile := fs.String("trace", "", "write a Go execution trace of the whole run to this file (go tool trace; -pprof=sched shows CPU queueing)")
	runFn := sc.flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	c := bench.Common{Dir: *dir, BoundDuration: *boundFor}
	if !*quiet {
		c.Progress = bench.NewProgress(stderr)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return fmt.Errorf("bench: trace: %w", err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return fmt.Errorf("bench: trace: %w", err)
		}
		defer trace.Stop()
	}
	res, err := runFn(ctx, c)
	c.Progress.Done()
	if err != nil {
		return fmt.Errorf("bench %s: %w", args[0], err)
	}
	if *asJSON {
		return bench.WriteJSON(stdout, args[0], res)
	}
	return bench.WriteTable(stdout, res.Table())
}

func printBenchHelp(w io.Writer, scenarios map[string]benchScenario) {
	fmt.Fprintln(w, "Usage: conflux bench SCENARIO [flags]   (conflux bench SCENARIO -h for its flags)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every scenario runs real loopback servers in this process, measures the machine's")
	fmt.Fprintln(w, "signature-verification bound in the same run, and prints a table (--json for machines).")
	fmt.Fprintln(w)
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, scenarios[n].summary)
	}
}
