package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
)

// errUsage marks an error caused by how the command was called; it exits 2.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// env gives the command its environment, so tests can pass their own.
type env func(key string) string

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"help":    {"show this help", nil}, // handled in run
		"version": {"print the version and build information", runVersion},
		"dev":     {"run the pipeline in one process: PLC directory, two hosts with synthetic users, relay", runDev},
		"tail":    {"print a subscribeRepos event stream (firehose)", runTail},
		"pds":     {"run a repository host (with --synth-users for synthetic activity)", runPDS},
		"post":    {"create a post on a PDS (facets for mentions, links, hashtags)", runPost},
		"like":    {"like a post on a PDS", runLike},
		"follow":  {"follow an account from a PDS account", runFollow},
		"delete":  {"delete one of your records on a PDS", runDelete},
		"relay":   {"run the relay: verify and merge hosts' streams into one firehose", runRelay},
		"feedgen": {"run a feed generator following a relay (getFeedSkeleton)", runFeedgen},
		"appview": {"run the AppView: index a relay's app.bsky records and serve reads", runAppview},
		"bench":   {"measure the whole pipeline: relay-ingest, fanout, replay, appview-index, feed-serve, e2e", runBench},
	}
}

// run is the testable entry point: it dispatches args[0] to its subcommand.
func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printHelp(stderr)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		printHelp(stdout)
		return nil
	}
	cmd, ok := commands()[name]
	if !ok {
		printHelp(stderr)
		return fmt.Errorf("%w: unknown command %q", errUsage, name)
	}
	return cmd.run(ctx, rest, getenv, stdout, stderr)
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "conflux: an AT Protocol event backbone (relay, hosts, AppView, feed generators)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: conflux <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'conflux <command> -h' for a command's flags.")
}
