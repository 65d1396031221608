// Command conflux is the one Conflux binary: relay, repository host, AppView,
// feed generator and tools, chosen by subcommand.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/conflux-atproto/conflux/internal/procs"
)

func main() {
	procs.Widen()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conflux:", err)
		os.Exit(exitCode(err))
	}
}
