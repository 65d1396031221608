package relay

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClock is a clock that sleeping advances, so a test can run days of
// rate limiting at once and see exactly how long each event was held.
type fakeClock struct {
	t      time.Time
	slept  time.Duration
	sleeps int
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.t = c.t.Add(d)
	c.slept += d
	c.sleeps++
	return nil
}

// TestRateLimitWindows: each window lets its limit through at once, then
// holds events back (never drops them) so that the sliding window never
// counts more than the limit; the longest window in force decides.
func TestRateLimitWindows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		limits RateLimits
		events int
		// at is when event i (0-based) may pass, relative to the start.
		at map[int]time.Duration
	}{
		{"second", RateLimits{PerSecond: 5}, 12, map[int]time.Duration{
			4: 0, 5: time.Second, 9: time.Second + 800*time.Millisecond, 10: 2 * time.Second,
		}},
		{"hour", RateLimits{PerHour: 10}, 12, map[int]time.Duration{
			9: 0, 10: time.Hour, 11: time.Hour + 6*time.Minute,
		}},
		{"day over second", RateLimits{PerSecond: 100, PerDay: 3}, 5, map[int]time.Duration{
			2: 0, 3: 24 * time.Hour, 4: 24*time.Hour + 8*time.Hour,
		}},
		{"hour and day", RateLimits{PerHour: 2, PerDay: 3}, 4, map[int]time.Duration{
			1: 0, 2: time.Hour, 3: 24 * time.Hour,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			start := clock.t
			l := newLimiter(c.limits, clock.now, clock.sleep)
			var waited []string
			l.onWait = func(w string) { waited = append(waited, w) }
			for i := range c.events {
				if err := l.wait(t.Context()); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if want, ok := c.at[i]; ok {
					// Held events pass within a microsecond of when the
					// window allows them (the limiter rounds up).
					if got := clock.t.Sub(start); got < want || got > want+time.Millisecond {
						t.Errorf("event %d passed at %v, want %v", i, got, want)
					}
				}
			}
			if len(waited) == 0 {
				t.Error("no hold-back reported")
			}
		})
	}
}

// TestRateLimitSteady: a host that keeps sending is held to its hourly
// limit over several hours: no sliding hour ever holds more than the limit
// (the two-bucket approximation may only be stricter), nothing is dropped,
// and the host still gets close to its limit.
func TestRateLimitSteady(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const limit, n = 100, 1000
	l := newLimiter(RateLimits{PerSecond: 50, PerHour: limit}, clock.now, clock.sleep)
	passed := make([]time.Time, 0, n)
	for range n {
		if err := l.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		passed = append(passed, clock.t)
	}
	for i, at := range passed {
		in := 0
		for j := i; j >= 0 && at.Sub(passed[j]) < time.Hour; j-- {
			in++
		}
		if in > limit {
			t.Fatalf("%d events in the hour up to event %d", in, i)
		}
	}
	// The exact sliding window would need 9h for the 900 after the first
	// burst; the approximation spreads each hour's share over the next.
	if got := passed[n-1].Sub(passed[0]); got < 9*time.Hour || got > 10*time.Hour+time.Minute {
		t.Errorf("%d events took %v, want 9h to 10h", n, got)
	}
}

// TestRateLimitCancel: a held event gives up when its context ends, and
// no limits means no limiter at all.
func TestRateLimitCancel(t *testing.T) {
	t.Parallel()
	if l := newLimiter(RateLimits{}, nil, nil); l != nil {
		t.Fatal("a limiter without limits")
	}
	l := newLimiter(RateLimits{PerHour: 1}, nil, nil)
	if err := l.wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("held event after cancel: %v", err)
	}
}
