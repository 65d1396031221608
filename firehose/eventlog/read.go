package eventlog

import (
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// readChunk is the size of the buffers that frames read from Pebble are
// copied into: one allocation per chunk rather than one per event.
const readChunk = 64 << 10

// ReadFrom appends to dst up to limit events with seq > cursor, in seq
// order, and returns it. It never returns a seq above Head(), and returns
// dst unchanged when the reader is caught up (park on Changed then).
//
// If events after cursor were trimmed (cursor+1 < Oldest()) it returns
// ErrTrimmed; the caller decides what that means (OutdatedCursor for a new
// subscriber, ConsumerTooSlow for a running one). Reading from Oldest()-1
// is always valid. A negative cursor is ErrBadCursor.
//
// Recent events come from the in-memory tail without copying frames; older
// ones from Pebble, copied into fresh buffers. Either way the frames in the
// result must not be modified.
func (l *Log) ReadFrom(cursor int64, dst []Event, limit int) ([]Event, error) {
	if cursor < 0 {
		return dst, fmt.Errorf("read from %d: %w", cursor, ErrBadCursor)
	}
	if l.closed.Load() {
		return dst, fmt.Errorf("read from %d: %w", cursor, ErrClosed)
	}
	if cursor == math.MaxInt64 || limit <= 0 {
		return dst, nil
	}
	from := cursor + 1
	if from < l.oldest.Load() {
		return dst, fmt.Errorf("read from %d: %w", cursor, ErrTrimmed)
	}
	head := l.head.Load()
	base := len(dst)
	for next := from; next <= head && len(dst)-base < limit; {
		var first int64
		var inTail bool
		dst, first, inTail = l.tail.read(next, head, dst, limit-(len(dst)-base))
		if inTail {
			break
		}
		// Below the tail (or the tail is empty): read the store up to where
		// the tail begins, then look at the tail again.
		upper := head
		if first > 0 {
			upper = min(upper, first-1)
		}
		if l.beforeStoreRead != nil {
			l.beforeStoreRead()
		}
		var err error
		dst, err = l.readStore(next, upper, dst, limit-(len(dst)-base))
		if err != nil {
			clear(dst[base:])
			return dst[:base], fmt.Errorf("read from %d: %w", cursor, err)
		}
		next = upper + 1
	}
	// A trim that raced this read was published before it deleted anything,
	// so a result with a hole in it is caught here.
	if from < l.oldest.Load() {
		clear(dst[base:])
		return dst[:base], fmt.Errorf("read from %d: %w", cursor, ErrTrimmed)
	}
	return dst, nil
}

// readStore appends stored events with from <= seq <= upper, at most limit.
func (l *Log) readStore(from, upper int64, dst []Event, limit int) (_ []Event, err error) {
	l.store.RLock()
	defer l.store.RUnlock()
	if l.store.closed {
		return dst, ErrClosed
	}
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: seqKey(prefixEvent, from),
		UpperBound: seqKey(prefixEvent, upper+1),
	})
	if err != nil {
		return dst, fmt.Errorf("store iterator: %w", err)
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("store iterator: %w", cerr)
		}
	}()
	var buf []byte
	prevSeq, prevTime := from-1, int64(math.MinInt64)
	for ok := it.First(); ok && limit > 0; ok = it.Next() {
		seq, err := decodeSeqKey(prefixEvent, it.Key())
		if err != nil {
			return dst, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return dst, fmt.Errorf("read event %d: %w", seq, err)
		}
		t, frame, err := decodeEventValue(seq, v)
		if err != nil {
			return dst, err
		}
		if seq <= prevSeq || t < prevTime {
			return dst, fmt.Errorf("%w: event %d (time %d) after event %d (time %d)", ErrCorrupt, seq, t, prevSeq, prevTime)
		}
		if len(buf)+len(frame) > cap(buf) {
			buf = make([]byte, 0, max(readChunk, len(frame)))
		}
		off := len(buf)
		buf = append(buf, frame...)
		dst = append(dst, Event{Seq: seq, Time: unixTime(t), Frame: buf[off:len(buf):len(buf)]})
		prevSeq, prevTime = seq, t
		limit--
	}
	if err := it.Error(); err != nil {
		return dst, fmt.Errorf("store iterator: %w", err)
	}
	return dst, nil
}
