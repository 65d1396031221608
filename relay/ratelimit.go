package relay

import (
	"context"
	"sync"
	"time"
)

// RateLimits are the per-host event rate limits, one per sliding window,
// checked in the order second, hour, day as the reference relay does; zero
// means no limit for that window. A host over a limit is read more slowly
// (backpressure on its socket): its events are never dropped for it.
type RateLimits struct {
	PerSecond, PerHour, PerDay int
}

func (c Config) rateLimits() RateLimits {
	return RateLimits{PerSecond: c.RateLimit, PerHour: c.RateLimitHour, PerDay: c.RateLimitDay}
}

// window is a sliding-window counter, approximated by two fixed buckets:
// the events of the previous bucket are counted in proportion to how much
// of it the sliding window still covers. That is exact for a steady rate,
// needs two integers per window, and never under-counts a burst at the
// end of one bucket by more than the bucket's own share.
type window struct {
	name      string
	size      time.Duration
	limit     int
	start     time.Time // start of the current bucket
	cur, prev int
}

func (w *window) advance(now time.Time) {
	switch elapsed := now.Sub(w.start); {
	case w.start.IsZero() || elapsed >= 2*w.size || elapsed < 0:
		w.start, w.cur, w.prev = now, 0, 0
	case elapsed >= w.size:
		w.start, w.prev, w.cur = w.start.Add(w.size), w.cur, 0
	}
}

// delay is how long until one more event fits (0: now).
func (w *window) delay(now time.Time) time.Duration {
	if w.limit <= 0 {
		return 0
	}
	w.advance(now)
	into := now.Sub(w.start)
	f := float64(into) / float64(w.size)
	if float64(w.prev)*(1-f)+float64(w.cur) < float64(w.limit) {
		return 0
	}
	if w.cur >= w.limit || w.prev == 0 {
		return w.size - into // this bucket is full on its own
	}
	// prev*(1-f') + cur < limit once f' > 1 - (limit-cur)/prev.
	need := 1 - float64(w.limit-w.cur)/float64(w.prev)
	return max(time.Duration(need*float64(w.size))-into+time.Microsecond, time.Microsecond)
}

// limiter applies one host's RateLimits: wait blocks until the event fits
// every window, then counts it.
type limiter struct {
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	onWait func(window string) // a hold-back happened (metrics)

	mu      sync.Mutex
	windows []*window
}

// newLimiter returns a limiter for l; nil (no limits) when every window is
// unlimited. now and sleep are the clock (time.Now and a timer when nil).
func newLimiter(l RateLimits, now func() time.Time, sleep func(context.Context, time.Duration) error) *limiter {
	var ws []*window
	for _, w := range []window{
		{name: "second", size: time.Second, limit: l.PerSecond},
		{name: "hour", size: time.Hour, limit: l.PerHour},
		{name: "day", size: 24 * time.Hour, limit: l.PerDay},
	} {
		if w.limit > 0 {
			ws = append(ws, &w)
		}
	}
	if len(ws) == 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	return &limiter{now: now, sleep: sleep, windows: ws}
}

func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	for {
		l.mu.Lock()
		now := l.now()
		var d time.Duration
		var which string
		for _, w := range l.windows {
			if wd := w.delay(now); wd > d {
				d, which = wd, w.name
			}
		}
		if d == 0 {
			for _, w := range l.windows {
				w.cur++
			}
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if l.onWait != nil {
			l.onWait(which)
		}
		if err := l.sleep(ctx, d); err != nil {
			return err
		}
	}
}
