// Package procs sizes the Go scheduler for Conflux's services and remembers
// how many CPUs the process really has.
//
// Every Conflux service commits to Pebble with fsync (hosts, the relay's log
// and state, the consumers' indexes), and a goroutine blocked in fsync holds
// its P until the runtime's monitor hands the P to another thread. With
// GOMAXPROCS equal to the CPU count, a couple of concurrent fsyncs leave
// runnable goroutines waiting while CPUs sit idle: on 2 cores, conflux bench
// e2e at 2,000 events/s used 1.3 of 2 cores, the scheduler-latency profile
// (go tool trace -pprof=sched) was dominated by woken goroutines waiting to
// run, and commit-to-feed p99 was 160-430 ms. With 4 or 8 Ps on the same 2
// cores it was 45-50 ms. So the binary runs with a few Ps beyond the CPUs,
// and code that sizes CPU-bound work (verification slots, worker counts, the
// signature bound) asks CPUs for the real count instead of GOMAXPROCS.
package procs

import (
	"os"
	"runtime"
)

// Headroom is how many Ps beyond the CPU count Widen adds: enough for the
// fsyncs in flight at once in one process running every service.
const Headroom = 4

// cpus is the runtime's own GOMAXPROCS default, read before anything can
// change it: the CPU count, capped by a container's CPU quota.
var cpus = runtime.GOMAXPROCS(0)

// CPUs is the number of CPUs the process may use: the runtime's default
// GOMAXPROCS (or the GOMAXPROCS environment variable), whatever Widen did.
func CPUs() int { return cpus }

// Widen sets GOMAXPROCS to CPUs()+Headroom unless the GOMAXPROCS environment
// variable is set, which always wins. Called once by main.
func Widen() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(cpus + Headroom)
}
