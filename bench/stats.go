package bench

import (
	"fmt"
	"slices"
	"syscall"
	"time"
)

// Latency summarises a set of durations. Values are milliseconds, so the
// JSON form reads without units.
type Latency struct {
	N     int     `json:"n"`
	P50ms float64 `json:"p50Ms"`
	P90ms float64 `json:"p90Ms"`
	P99ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
}

// summarize returns the percentiles (nearest rank) of ds, which it leaves
// as it is.
func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.999999) - 1
		i = min(max(i, 0), len(ds)-1)
		return ms(ds[i])
	}
	return Latency{N: len(ds), P50ms: at(0.50), P90ms: at(0.90), P99ms: at(0.99), MaxMs: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (l Latency) String() string {
	if l.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (n=%d)", fmtMs(l.P50ms), fmtMs(l.P90ms), fmtMs(l.P99ms), fmtMs(l.MaxMs), l.N)
}

func fmtMs(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures CPU cores used over an interval.
type cpuMeter struct {
	cpu  time.Duration
	wall time.Time
}

func startCPU() cpuMeter { return cpuMeter{cpu: cpuTime(), wall: time.Now()} }

// cores is CPU seconds per wall second since start.
func (m cpuMeter) cores() float64 {
	wall := time.Since(m.wall).Seconds()
	if wall <= 0 {
		return 0
	}
	return (cpuTime() - m.cpu).Seconds() / wall
}
