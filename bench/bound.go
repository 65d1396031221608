package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conflux-atproto/conflux/internal/procs"
	"github.com/conflux-atproto/conflux/repo/crypto"
)

// DefaultBoundDuration is how long MeasureBound verifies.
const DefaultBoundDuration = time.Second

// boundKeys is how many distinct keys the bound verifies with: real
// traffic has a key per account, so no key's precomputation stays hot.
const boundKeys = 256

// Bound is the machine's signature-verification bound: what every core
// verifying secp256k1 signatures at once achieves.
type Bound struct {
	Cores       int     `json:"cores"`
	PerSecond   float64 `json:"verificationsPerSecond"` // all cores together
	PerCore     float64 `json:"verificationsPerSecondPerCore"`
	MeasuredFor string  `json:"measuredFor"`
	// Load is the load average when the bound was measured: on a shared
	// machine every figure of the run is pessimistic by about that much.
	Load string `json:"loadAverage"`
}

func (b Bound) String() string {
	return fmt.Sprintf("%.0f secp256k1 verifications/s (%d cores x %.0f/s, best %s window of %s; load %s)",
		b.PerSecond, b.Cores, b.PerCore, boundSlice, b.MeasuredFor, b.Load)
}

// Ratio is rate / bound, 0 if the bound is unknown.
func (b Bound) Ratio(rate float64) float64 {
	if b.PerSecond <= 0 {
		return 0
	}
	return rate / b.PerSecond
}

type signed struct {
	pub      crypto.PublicKey
	msg, sig []byte
}

// boundSlice is the measurement window: the bound is the best window, so
// that a moment of load from elsewhere on a shared machine lowers it less.
const boundSlice = 100 * time.Millisecond

// MeasureBound verifies signatures of boundKeys distinct keys on every core
// (one goroutine per CPU) for d (DefaultBoundDuration if zero), and returns
// the best rate over windows of boundSlice.
func MeasureBound(ctx context.Context, d time.Duration) (Bound, error) {
	if d <= 0 {
		d = DefaultBoundDuration
	}
	jobs := make([]signed, boundKeys)
	for i := range jobs {
		k, err := crypto.GenerateK256()
		if err != nil {
			return Bound{}, fmt.Errorf("bound: generate key: %w", err)
		}
		// About the size of an unsigned commit object.
		msg := make([]byte, 160)
		_, _ = rand.Read(msg)
		sig, err := k.Sign(msg)
		if err != nil {
			return Bound{}, fmt.Errorf("bound: sign: %w", err)
		}
		jobs[i] = signed{pub: k.Public(), msg: msg, sig: sig}
	}
	cores := procs.CPUs()
	var total atomic.Int64
	var stop, failed atomic.Bool
	var wg sync.WaitGroup
	for c := range cores {
		wg.Go(func() {
			for i := c; !stop.Load(); i += 16 {
				for k := range 16 {
					j := jobs[(i+k)%len(jobs)]
					if err := j.pub.Verify(j.msg, j.sig); err != nil {
						failed.Store(true)
						return
					}
				}
				total.Add(16)
			}
		})
	}
	start := time.Now()
	best := 0.0
	prevN, prevT := total.Load(), start
	tick := time.NewTicker(boundSlice)
	for now := range tick.C {
		n := total.Load()
		best = max(best, float64(n-prevN)/now.Sub(prevT).Seconds())
		prevN, prevT = n, now
		if now.Sub(start) >= d || ctx.Err() != nil || failed.Load() {
			break
		}
	}
	tick.Stop()
	stop.Store(true)
	wg.Wait()
	if failed.Load() {
		return Bound{}, fmt.Errorf("bound: a valid signature did not verify")
	}
	if err := ctx.Err(); err != nil {
		return Bound{}, err
	}
	return Bound{Cores: cores, PerSecond: best, PerCore: best / float64(cores),
		MeasuredFor: time.Since(start).Round(time.Millisecond).String(), Load: LoadAverage()}, nil
}

// LoadAverage is the machine's 1, 5 and 15 minute load averages
// (/proc/loadavg), or "" where that file does not exist.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
