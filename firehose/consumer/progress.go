package consumer

import (
	"context"
	"log/slog"
	"math"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
)

// lagUnknown in Consumer.lagNanos: no event with a usable time yet.
const lagUnknown = time.Duration(math.MinInt64)

// eventLag is how far behind the event's time field processing is. The
// field is informal (relays may rewrite it), so a missing or unparsable
// time just means no lag sample.
func eventLag(f firehose.Frame, now time.Time) (time.Duration, bool) {
	t, ok := f.Time()
	if !ok {
		return 0, false
	}
	return now.Sub(t), true
}

// reportProgress publishes the rate and the events-behind gauge and logs one
// progress line per ProgressInterval: Info while catching up (behind a
// known head, or lagging more than CatchUpLag), Debug otherwise, nothing
// when no event was processed in the interval and nothing is known to be
// behind.
func (c *Consumer) reportProgress(ctx context.Context) {
	t := time.NewTicker(c.cfg.ProgressInterval)
	defer t.Stop()
	lastN, lastAt := c.processedN.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := c.processedN.Load()
			rate := float64(n-lastN) / now.Sub(lastAt).Seconds()
			behind, haveBehind := c.eventsBehind(ctx)
			c.cfg.Metrics.progress(rate, behind, haveBehind)
			c.logProgress(ctx, n-lastN, rate, behind, haveBehind)
			lastN, lastAt = n, now
		}
	}
}

// eventsBehind asks HeadFunc for the upstream head, within one interval.
func (c *Consumer) eventsBehind(ctx context.Context) (int64, bool) {
	if c.cfg.HeadFunc == nil {
		return 0, false
	}
	hctx, cancel := context.WithTimeout(ctx, c.cfg.ProgressInterval)
	defer cancel()
	head, err := c.cfg.HeadFunc(hctx)
	if err != nil {
		c.cfg.Logger.Debug("head lookup failed", "err", err)
		return 0, false
	}
	return max(head-max(c.cursor.Load(), 0), 0), true
}

func (c *Consumer) logProgress(ctx context.Context, events int64, rate float64, behind int64, haveBehind bool) {
	lag := time.Duration(c.lagNanos.Load())
	// A stale lag from before a quiet spell is not "behind".
	catchingUp := (haveBehind && behind > 0) || (events > 0 && lag != lagUnknown && lag > c.cfg.CatchUpLag)
	if events == 0 && !catchingUp {
		return
	}
	level := slog.LevelDebug
	msg := "progress"
	if catchingUp {
		level, msg = slog.LevelInfo, "catching up"
	}
	attrs := []any{"cursor", c.cursor.Load(), "events", events, "events_per_s", int64(rate)}
	if lag != lagUnknown {
		attrs = append(attrs, "lag", lag.Round(time.Millisecond))
	}
	if haveBehind {
		attrs = append(attrs, "behind", behind)
	}
	c.cfg.Logger.Log(ctx, level, msg, attrs...)
}
