package syntax

import (
	"math/rand/v2"
	"sync"
	"time"
)

// TIDLen is the length of a TID string.
const TIDLen = 13

// MaxClockID is the largest clock identifier (10 bits).
const MaxClockID = 1<<10 - 1

// maxMicros is the largest timestamp a TID can hold (53 bits).
const maxMicros = 1<<53 - 1

// tidAlphabet is base32-sortable: its characters are in ASCII order, so
// comparing TID strings compares the integers they encode.
const tidAlphabet = "234567abcdefghijklmnopqrstuvwxyz"

// tidValue maps a byte to its 5-bit value, or 0xff if it is not in the
// alphabet. A fixed array keeps decoding branch-light and allocation-free.
var tidValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(tidAlphabet); i++ {
		t[tidAlphabet[i]] = byte(i)
	}
	return t
}()

// TID is a timestamp identifier: a 64-bit integer with the top bit zero, 53
// bits of microseconds since the Unix epoch and a 10-bit clock id, written
// as 13 base32-sortable characters. Repo revisions and most record keys are
// TIDs. Obtain one from ParseTID, NewTID or a Clock.
type TID string

// ParseTID validates s: exactly 13 characters from the base32-sortable
// alphabet. The first character is limited to 234567abcdefghij because 13
// characters carry 65 bits and only 64 fit; the spec's syntax does not
// enforce its "top bit is zero" rule, so neither does this parser.
func ParseTID(s string) (TID, error) {
	if len(s) != TIDLen {
		return "", invalid(ErrInvalidTID, s, "must be 13 characters")
	}
	if tidValue[s[0]] > 0x0f {
		return "", invalid(ErrInvalidTID, s, "first character must be one of 234567abcdefghij")
	}
	for i := 1; i < TIDLen; i++ {
		if tidValue[s[i]] == 0xff {
			return "", invalid(ErrInvalidTID, s, "character outside 234567a-z")
		}
	}
	return TID(s), nil
}

// NewTID builds a TID from microseconds since the Unix epoch and a clock id.
// Out-of-range inputs are clamped (negative times to zero, times past the
// 53-bit limit in the year 2255 to the limit) and the clock id is masked to
// 10 bits, so the result is always valid.
func NewTID(unixMicros int64, clockID uint) TID {
	us := uint64(max(unixMicros, 0))
	us = min(us, maxMicros)
	return TIDFromInteger(us<<10 | uint64(clockID&MaxClockID))
}

// NewTIDFromTime builds a TID for t with the given clock id; see NewTID.
func NewTIDFromTime(t time.Time, clockID uint) TID {
	return NewTID(t.UnixMicro(), clockID)
}

// TIDFromInteger encodes v as a TID. TIDs from NewTID and Clock always have
// the top bit clear, as the spec requires, but the TID syntax admits it, so
// every uint64 is encoded as is and Integer inverts it exactly.
func TIDFromInteger(v uint64) TID {
	var b [TIDLen]byte
	for i := range b {
		b[i] = tidAlphabet[(v>>(60-5*uint(i)))&31]
	}
	return TID(b[:])
}

// Integer returns the 64-bit value the TID encodes. It returns 0 for a
// value that did not come from this package's constructors and is not
// 13 alphabet characters.
func (t TID) Integer() uint64 {
	if len(t) != TIDLen {
		return 0
	}
	var v uint64
	for i := 0; i < TIDLen; i++ {
		d := tidValue[t[i]]
		if d == 0xff {
			return 0
		}
		v = v<<5 | uint64(d)
	}
	return v
}

// UnixMicro returns the timestamp part in microseconds since the epoch.
func (t TID) UnixMicro() int64 { return int64(t.Integer() >> 10) }

// Time returns the timestamp part as a UTC time.
func (t TID) Time() time.Time { return time.UnixMicro(t.UnixMicro()).UTC() }

// ClockID returns the 10-bit clock identifier.
func (t TID) ClockID() uint { return uint(t.Integer() & MaxClockID) }

// String returns the TID as a string.
func (t TID) String() string { return string(t) }

// MarshalText implements encoding.TextMarshaler.
func (t TID) MarshalText() ([]byte, error) { return []byte(t), nil }

// UnmarshalText implements encoding.TextUnmarshaler and validates the input.
func (t *TID) UnmarshalText(b []byte) error {
	v, err := ParseTID(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Clock issues TIDs that strictly increase for the life of the Clock, even
// when Next is called many times within one microsecond or the wall clock
// steps backwards: the timestamp used is max(now, last+1µs). It is safe for
// concurrent use. A process that writes one repo should use one Clock for
// it; separate Clocks should use different clock ids.
type Clock struct {
	clockID uint
	now     func() time.Time // wall clock; replaceable in tests

	mu struct {
		sync.Mutex
		last int64 // microseconds of the last TID issued
	}
}

// NewClock returns a Clock with the given clock id (masked to 10 bits).
func NewClock(clockID uint) *Clock {
	return &Clock{clockID: clockID & MaxClockID, now: time.Now}
}

// NewRandomClock returns a Clock with a random clock id, which is what the
// spec suggests so that independent writers rarely collide.
func NewRandomClock() *Clock {
	return NewClock(uint(rand.IntN(MaxClockID + 1)))
}

// ClockID returns the clock id stamped into every TID from c.
func (c *Clock) ClockID() uint { return c.clockID }

// Next returns a TID greater than every TID c has issued before.
func (c *Clock) Next() TID {
	now := c.now().UnixMicro()
	c.mu.Lock()
	us := max(now, c.mu.last+1)
	c.mu.last = us
	c.mu.Unlock()
	return NewTID(us, c.clockID)
}

// Observe moves the clock forward so that later TIDs sort after t, for
// example after loading a repo whose latest revision was written by a clock
// running ahead of ours. Earlier TIDs have no effect.
func (c *Clock) Observe(t TID) {
	us := t.UnixMicro()
	c.mu.Lock()
	c.mu.last = max(c.mu.last, us)
	c.mu.Unlock()
}
