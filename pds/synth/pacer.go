package synth

import (
	"context"
	"time"
)

// pacer is a token bucket: rate tokens per second, holding at most burst.
// Each action takes one token. The burst lets the bucket catch up after a
// timer fires late, so the achieved rate does not fall short of the target
// just because sleeps are coarse.
type pacer struct {
	rate   float64 // tokens per second; 0 means no pacing
	burst  float64
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	tokens float64
	last   time.Time
}

func newPacer(rate float64) *pacer {
	return &pacer{rate: rate, burst: max(1, rate/10), now: time.Now, sleep: sleepCtx}
}

// wait takes a token, sleeping until one is available. It returns ctx's
// error if ctx ends first.
func (p *pacer) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil || p.rate <= 0 {
		return err
	}
	if p.last.IsZero() {
		p.last, p.tokens = p.now(), 1
	}
	p.refill()
	if p.tokens < 1 {
		need := time.Duration((1 - p.tokens) / p.rate * float64(time.Second))
		if err := p.sleep(ctx, need); err != nil {
			return err
		}
		p.refill()
	}
	// After a short sleep tokens can be a hair under 1; the debt is repaid
	// from the next refill, so the long-run rate is still exact.
	p.tokens--
	return nil
}

func (p *pacer) refill() {
	now := p.now()
	if d := now.Sub(p.last); d > 0 {
		p.tokens = min(p.burst, p.tokens+d.Seconds()*p.rate)
		p.last = now
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
