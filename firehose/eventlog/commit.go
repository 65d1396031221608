package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

const (
	// maxGroupEntries caps one group commit, so that one huge burst does not
	// delay every appender behind it by more than one bounded batch.
	maxGroupEntries = 4096
	// indexEveryBytes is the byte spacing of index checkpoints: it bounds how
	// much the trimmer scans to find an exact cut (one checkpoint interval)
	// while keeping the in-memory index small (72h of a 3 MB/s relay is
	// ~100k checkpoints).
	indexEveryBytes = 8 << 20
)

// Run owns the committer (the only writer to the store) and the trimmer. It
// returns after ctx is done and every append queued by then was committed or
// failed; after that the log accepts no appends (ErrClosed). It returns nil on
// a clean stop and the error that stopped it otherwise (a failed commit is
// our own corruption and is fatal). Run may be called once.
func (l *Log) Run(ctx context.Context) error {
	l.life.Lock()
	switch {
	case l.life.closed:
		l.life.Unlock()
		return fmt.Errorf("run: %w", ErrClosed)
	case l.life.ran:
		l.life.Unlock()
		return fmt.Errorf("run: %w", ErrRunning)
	}
	l.life.ran, l.life.running = true, true
	l.life.Unlock()
	defer func() {
		l.life.Lock()
		l.life.running = false
		l.life.Unlock()
	}()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var trimErr error
	wg.Go(func() {
		if err := l.trimLoop(runCtx); err != nil {
			trimErr = err
			cancel(err)
		}
	})
	err := l.commitLoop(runCtx)
	cancel(nil)
	wg.Wait()
	l.notify() // parked readers look again and see the log stopped
	l.log.Info("event log stopped", "seq", l.Head())
	return errors.Join(err, trimErr)
}

// commitLoop gathers whatever is queued into one batch per round: while one
// batch is being fsynced, new appends queue up and form the next group.
func (l *Log) commitLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return l.shutdown()
		case <-l.q.signal:
		}
		for ctx.Err() == nil {
			reqs, tr := l.q.take(maxGroupEntries)
			if tr != nil {
				n, err := l.applyTrim(tr.plan)
				if err != nil {
					tr.finish(0, fmt.Errorf("%w: %w", ErrClosed, err))
					return l.fail(err)
				}
				tr.finish(n, nil)
			}
			if len(reqs) == 0 {
				break
			}
			if err := l.commitGroup(reqs); err != nil {
				return l.fail(err)
			}
		}
	}
}

// shutdown closes the queue and commits what was queued before it closed.
func (l *Log) shutdown() error {
	reqs, tr := l.q.close(ErrClosed)
	if tr != nil {
		tr.finish(0, ErrClosed)
	}
	for len(reqs) > 0 {
		n, entries := 0, 0
		for n < len(reqs) && (n == 0 || entries+len(reqs[n].entries) <= maxGroupEntries) {
			entries += len(reqs[n].entries)
			n++
		}
		if err := l.commitGroup(reqs[:n]); err != nil {
			failPending(reqs[n:], nil, err)
			return err
		}
		reqs = reqs[n:]
	}
	return nil
}

// fail stops the log after a fatal error: queued appends fail with it.
func (l *Log) fail(err error) error {
	closed := fmt.Errorf("%w: %w", ErrClosed, err)
	reqs, tr := l.q.close(closed)
	failPending(reqs, tr, closed)
	return err
}

// commitGroup sequences, encodes and durably commits the pending requests
// among reqs, then publishes them. An entry that fails to encode fails its
// own request only, and consumes no seq.
func (l *Log) commitGroup(reqs []*request) error {
	t := max(l.cfg.Now().UnixNano(), l.w.head.time) // append times never decrease
	at := unixTime(t)
	b := l.db.NewBatch()
	defer b.Close()

	h := l.w.head
	seq := l.w.nextSeq
	last, hasIndex := l.w.lastIdx, l.w.hasIndex
	var newIdx []indexEntry
	claimed := make([]*request, 0, len(reqs))
	n, size := 0, int64(0)
	for _, r := range reqs {
		if !r.state.CompareAndSwap(reqPending, reqClaimed) {
			continue // the appender gave up before we got here
		}
		evs, err := encode(r.entries, seq, at)
		if err != nil {
			r.finish(nil, err)
			continue
		}
		for _, ev := range evs {
			if err := putEvent(b, ev.Seq, t, ev.Frame); err != nil {
				return l.failGroup(append(claimed, r), fmt.Errorf("stage event %d: %w", ev.Seq, err))
			}
			if !hasIndex || t/int64(time.Minute) != last.time/int64(time.Minute) || h.bytes-last.bytes >= l.indexBytes {
				last, hasIndex = indexEntry{seq: ev.Seq, time: t, bytes: h.bytes, events: h.events}, true
				if err := b.Set(seqKey(prefixIndex, ev.Seq), last.value(), nil); err != nil {
					return l.failGroup(append(claimed, r), fmt.Errorf("stage index %d: %w", ev.Seq, err))
				}
				newIdx = append(newIdx, last)
			}
			h.bytes += int64(len(ev.Frame))
			h.events++
			size += int64(len(ev.Frame))
		}
		seq += int64(len(evs))
		h.seq, h.time = seq-1, t
		n += len(evs)
		r.events = evs
		claimed = append(claimed, r)
	}
	if len(claimed) == 0 {
		return nil
	}
	if err := b.Set(headKey, h.value(), nil); err != nil {
		return l.failGroup(claimed, fmt.Errorf("stage head %d: %w", h.seq, err))
	}
	start := time.Now()
	if err := b.Commit(l.wopts); err != nil {
		return l.failGroup(claimed, fmt.Errorf("commit events up to %d: %w", h.seq, err))
	}
	took := time.Since(start)

	// Durable: only now may readers see it.
	l.w.head, l.w.nextSeq, l.w.lastIdx, l.w.hasIndex = h, seq, last, hasIndex
	l.mu.Lock()
	l.mu.index = append(l.mu.index, newIdx...)
	l.mu.head = h
	l.mu.Unlock()
	l.tail.push(claimed)
	l.head.Store(h.seq)
	l.notify()
	for _, r := range claimed {
		r.finish(r.events, nil)
	}
	if l.cfg.Metrics != nil {
		l.cfg.Metrics.observeCommit(n, size, took)
		l.cfg.Metrics.setState(l.Stats())
	}
	return nil
}

// failGroup fails the claimed requests of a group that was not committed.
func (l *Log) failGroup(claimed []*request, err error) error {
	for _, r := range claimed {
		r.finish(nil, err)
	}
	return err
}

// encode asks each entry for its frame at its seq.
func encode(entries []Entry, seq int64, at time.Time) ([]Event, error) {
	evs := make([]Event, len(entries))
	for i, e := range entries {
		s := seq + int64(i)
		if e == nil {
			return nil, fmt.Errorf("append: nil entry for seq %d", s)
		}
		f, err := e.Frame(s, at)
		if err != nil {
			return nil, fmt.Errorf("append: encode frame for seq %d: %w", s, err)
		}
		evs[i] = Event{Seq: s, Time: at, Frame: f}
	}
	return evs, nil
}

// putEvent writes the event's key and value straight into the batch.
func putEvent(b *pebble.Batch, seq, t int64, frame []byte) error {
	op := b.SetDeferred(seqKeyLen, eventValueMin+len(frame))
	putSeqKey(op.Key, prefixEvent, seq)
	binary.BigEndian.PutUint64(op.Value, uint64(t))
	copy(op.Value[eventValueMin:], frame)
	return op.Finish()
}
