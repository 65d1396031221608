package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/pds/synthhost"
)

// AppviewIndexConfig configures AppviewIndex. Zero values mean the defaults.
type AppviewIndexConfig struct {
	Common
	Users  int // synthetic users, default 100
	Writes int // synthetic commits recorded, default 15,000
	// Timeout bounds each indexing run (default 20 s).
	Timeout time.Duration
}

func (c AppviewIndexConfig) withDefaults() AppviewIndexConfig {
	setDefault(&c.Users, 100)
	setDefault(&c.Writes, 15_000)
	setDefault(&c.Timeout, 20*time.Second)
	return c
}

// AppviewIndexResult is what AppviewIndex measured.
type AppviewIndexResult struct {
	Bound       Bound    `json:"bound"`
	Events      int64    `json:"events"`
	PrepSeconds float64  `json:"prepSeconds"`
	Off         indexRun `json:"verifyOff"`
	On          indexRun `json:"verifyOn"`
	RatioOn     float64  `json:"verifiedRatioToBound"`
}

type indexRun struct {
	Indexed      int64   `json:"indexed"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"eventsPerSecond"`
	Cores        float64 `json:"cpuCores"`
	TimedOut     bool    `json:"timedOut"`
}

// Table implements Result.
func (r *AppviewIndexResult) Table() Table {
	t := Table{Title: "appview-index"}
	t.add("signature bound", "%s", r.Bound)
	t.add("recorded stream", "%d events of synthetic activity (recorded in %.1f s)", r.Events, r.PrepSeconds)
	for _, x := range []struct {
		name string
		run  indexRun
	}{{"verification off", r.Off}, {"verification on", r.On}} {
		to := ""
		if x.run.TimedOut {
			to = " TIMED OUT"
		}
		t.add(x.name, "%d events in %.2f s = %.0f events/s on %.2f cores%s", x.run.Indexed, x.run.Seconds, x.run.EventsPerSec, x.run.Cores, to)
	}
	t.add("verified ratio to bound", "%.2f", r.RatioOn)
	t.note("the stream is a host's retained firehose (posts with facets, replies, quotes, images, likes, reposts, follows, profiles, deletes from pds/synth), recorded before timing; a fresh AppView indexes it from cursor 0 over loopback, committing each batch with fsync")
	t.note("verification on: every #commit's sync 1.1 proof and secp256k1 signature; the AppView resolves keys from the development PLC directory (cold cache)")
	return t
}

// AppviewIndex measures the AppView indexing a pre-recorded stream, with
// verification off and on.
func AppviewIndex(ctx context.Context, cfg AppviewIndexConfig) (*AppviewIndexResult, error) {
	cfg = cfg.withDefaults()
	p := cfg.Progress
	res := &AppviewIndexResult{}
	cl, err := begin(ctx, cfg.Common, &res.Bound)
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	p.Phase("recording a synthetic stream")
	start := time.Now()
	h, err := cl.addHost("rec", true)
	if err != nil {
		return nil, err
	}
	d, err := synth.New(synth.Config{Host: synthhost.Host{PDS: h.pds}, Users: cfg.Users, MaxWrites: int64(cfg.Writes),
		Seed: 7, HandleDomain: h.name + ".test", Logger: cl.log, LogEvery: time.Hour})
	if err != nil {
		return nil, fmt.Errorf("bench: synth: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				return nil, fmt.Errorf("bench: synth: %w", err)
			}
			waiting = false
		case <-time.After(100 * time.Millisecond):
			p.Set(d.Stats().Writes, int64(cfg.Writes), "commits")
		}
	}
	dids, err := h.createAccounts(ctx, 1, 1, nil)
	if err != nil {
		return nil, err
	}
	if res.Events, err = headOf(ctx, h, dids[0]); err != nil {
		return nil, err
	}
	res.PrepSeconds = time.Since(start).Seconds()

	for i, run := range []*indexRun{&res.Off, &res.On} {
		verify := i == 1
		p.Phase([]string{"indexing, verification off", "indexing, verification on"}[i])
		mark := newWatermark()
		meter := startCPU()
		t0 := time.Now()
		if _, _, err := cl.startAppview(fmt.Sprintf("appview-%d", i), h.url, !verify, false, mark.observe); err != nil {
			return nil, err
		}
		deadline := t0.Add(cfg.Timeout)
		for mark.head() < res.Events {
			if err := cl.err(); err != nil {
				return nil, err
			}
			if time.Now().After(deadline) {
				run.TimedOut = true
				break
			}
			p.Set(mark.head(), res.Events, "events")
			wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, _ = mark.wait(wctx, res.Events)
			cancel()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		run.Seconds = time.Since(t0).Seconds()
		run.Cores = meter.cores()
		run.Indexed = mark.head()
		run.EventsPerSec = float64(run.Indexed) / run.Seconds
	}
	res.RatioOn = res.Bound.Ratio(res.On.EventsPerSec)
	p.Done()
	return res, nil
}
