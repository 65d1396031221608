package consumer

import (
	"math/rand/v2"
	"time"
)

// backoff is a jittered exponential delay: attempt n waits a random time in
// [d/2, d] with d = min(max, min·2ⁿ). The jitter keeps many consumers of one
// server from reconnecting in lockstep after it restarts.
type backoff struct {
	min, max time.Duration
	attempt  int
}

func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.attempt && d < b.max; i++ {
		if d > b.max/2 {
			d = b.max // doubling would pass max (or overflow)
			break
		}
		d *= 2
	}
	d = min(d, b.max)
	if d < b.max {
		b.attempt++ // stops growing once max is reached
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func (b *backoff) reset() { b.attempt = 0 }
