package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// trimPlan is a cut the trimmer found: either the event that becomes the
// oldest retained one (with its running totals, as an index checkpoint), or
// "everything through head" when every event expired.
type trimPlan struct {
	all   bool
	head  int64      // the head the plan was made against (all)
	entry indexEntry // the new oldest event (!all)
}

// trimLoop trims every TrimInterval (the first time one interval after
// Run starts, so a log that was down past its retention catches up then).
func (l *Log) trimLoop(ctx context.Context) error {
	tick := time.NewTicker(l.cfg.TrimInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if _, err := l.Trim(ctx); err != nil {
			// A stop, or a commit failure the committer already reports.
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// Trim applies retention now, as Run's trimmer does every TrimInterval, and
// returns how many events it removed. It needs Run to be running (the
// committer applies the cut); otherwise it waits for ctx.
func (l *Log) Trim(ctx context.Context) (int64, error) {
	l.trimMu.Lock()
	defer l.trimMu.Unlock()
	plan, ok, err := l.planTrim(l.cfg.Now())
	if err != nil || !ok {
		return 0, err
	}
	tr := &trimRequest{plan: plan, done: make(chan struct{})}
	if err := l.q.pushTrim(tr); err != nil {
		return 0, fmt.Errorf("trim: %w", err)
	}
	select {
	case <-tr.done:
		return tr.trimmed, tr.err
	case <-ctx.Done():
		return 0, fmt.Errorf("trim: %w", context.Cause(ctx))
	}
}

// planTrim finds the first event to keep: the oldest event that is younger
// than the retention and after which the stored frames fit MaxBytes. Both
// conditions only become true along seq (times never decrease; running
// byte totals increase), so a binary search over the index brackets the cut
// between two checkpoints, and a scan of that one interval finds it exactly.
func (l *Log) planTrim(now time.Time) (trimPlan, bool, error) {
	cutoff := now.Add(-l.cfg.Retention).UnixNano()
	l.mu.Lock()
	index, h := l.mu.index, l.mu.head
	keep := func(t, before int64) bool {
		return t >= cutoff && (l.cfg.MaxBytes == 0 || h.bytes-before <= l.cfg.MaxBytes)
	}
	k := sort.Search(len(index), func(i int) bool { return keep(index[i].time, index[i].bytes) })
	if k == 0 {
		l.mu.Unlock()
		return trimPlan{}, false, nil // empty, or the oldest event is kept
	}
	from, upper := index[k-1], h.seq
	var next *indexEntry
	if k < len(index) {
		e := index[k]
		next, upper = &e, e.seq-1
	}
	l.mu.Unlock()

	entry, found, err := l.scanCut(from, upper, keep)
	switch {
	case errors.Is(err, errTrimRaced):
		return trimPlan{}, false, nil // the next round plans on fresh state
	case err != nil:
		return trimPlan{}, false, fmt.Errorf("trim: %w", err)
	case found:
		return trimPlan{entry: entry}, true, nil
	case next != nil:
		return trimPlan{entry: *next}, true, nil
	default:
		return trimPlan{all: true, head: h.seq}, true, nil
	}
}

// scanCut walks the events from checkpoint from through upper, carrying the
// running totals, and returns the first one keep accepts as a checkpoint.
func (l *Log) scanCut(from indexEntry, upper int64, keep func(t, before int64) bool) (_ indexEntry, _ bool, err error) {
	l.store.RLock()
	defer l.store.RUnlock()
	if l.store.closed {
		return indexEntry{}, false, ErrClosed
	}
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: seqKey(prefixEvent, from.seq),
		UpperBound: seqKey(prefixEvent, upper+1),
	})
	if err != nil {
		return indexEntry{}, false, fmt.Errorf("store iterator: %w", err)
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("store iterator: %w", cerr)
		}
	}()
	cur, first := from, true
	for ok := it.First(); ok; ok = it.Next() {
		seq, err := decodeSeqKey(prefixEvent, it.Key())
		if err != nil {
			return indexEntry{}, false, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return indexEntry{}, false, fmt.Errorf("read event %d: %w", seq, err)
		}
		t, frame, err := decodeEventValue(seq, v)
		if err != nil {
			return indexEntry{}, false, err
		}
		if first && (seq != from.seq || t != from.time) {
			return indexEntry{}, false, l.missingCheckpoint(from, fmt.Sprintf("event %d (time %d)", seq, t))
		}
		first = false
		if t < cur.time {
			return indexEntry{}, false, fmt.Errorf("%w: event %d time goes backwards", ErrCorrupt, seq)
		}
		cur.seq, cur.time = seq, t
		if keep(t, cur.bytes) {
			return cur, true, nil
		}
		cur.bytes += int64(len(frame))
		cur.events++
	}
	if err := it.Error(); err != nil {
		return indexEntry{}, false, fmt.Errorf("store iterator: %w", err)
	}
	if first {
		return indexEntry{}, false, l.missingCheckpoint(from, "no event")
	}
	return indexEntry{}, false, nil
}

// errTrimRaced: a trim applied while the trimmer scanned (only possible when
// a Trim caller gave up waiting and another Trim started); the scan's
// snapshot is stale and must not be acted on.
var errTrimRaced = errors.New("trim raced the scan")

// missingCheckpoint explains why the event at checkpoint from is not where
// the index says: trimmed since the snapshot, or our own corruption.
func (l *Log) missingCheckpoint(from indexEntry, found string) error {
	if from.seq < l.oldest.Load() {
		return errTrimRaced
	}
	return fmt.Errorf("%w: checkpoint %d (time %d) but %s", ErrCorrupt, from.seq, from.time, found)
}

// applyTrim runs on the committer: it deletes every event (and checkpoint)
// below the cut with DeleteRange, in one batch with the new head, and
// returns how many events went.
func (l *Log) applyTrim(p trimPlan) (int64, error) {
	h := l.w.head
	l.mu.Lock()
	index := l.mu.index
	l.mu.Unlock()
	if len(index) == 0 {
		return 0, nil
	}
	all, cut := p.all, p.entry
	if all && h.seq != p.head {
		// Appends landed after the plan; they are not expired. Cut at the
		// first checkpoint after the planned head or, failing that, keep
		// the last checkpoint's interval; the next round finishes the job.
		all = false
		i := sort.Search(len(index), func(i int) bool { return index[i].seq > p.head })
		cut = index[min(i, len(index)-1)]
	}
	oldest := h.seq + 1
	if !all {
		if cut.seq <= index[0].seq {
			return 0, nil // stale plan: already trimmed past it
		}
		oldest = cut.seq
	}
	trimmed := h.events - index[0].events
	if !all {
		trimmed = cut.events - index[0].events
	}
	nh := h
	nh.oldest = oldest

	b := l.db.NewBatch()
	defer b.Close()
	err := errors.Join(
		b.DeleteRange(seqKey(prefixEvent, 0), seqKey(prefixEvent, oldest), nil),
		b.DeleteRange(seqKey(prefixIndex, 0), seqKey(prefixIndex, oldest), nil),
		b.Set(headKey, nh.value(), nil),
	)
	if err == nil && !all {
		err = b.Set(seqKey(prefixIndex, cut.seq), cut.value(), nil)
	}
	if err != nil {
		return 0, fmt.Errorf("stage trim below %d: %w", oldest, err)
	}
	// Publish the cut before deleting (see ReadFrom).
	l.oldest.Store(oldest)
	l.tail.dropBelow(oldest)
	// No fsync of its own, so a trim delays appends by a memtable insert,
	// not a disk flush: the next append's fsync covers it (the WAL is
	// synced as a prefix), and a trim lost in a crash only brings back
	// events that the next round trims again.
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, fmt.Errorf("commit trim below %d: %w", oldest, err)
	}

	i := sort.Search(len(index), func(i int) bool { return index[i].seq >= oldest })
	rest := index[i:]
	if !all && (len(rest) == 0 || rest[0].seq != cut.seq) {
		rest = append([]indexEntry{cut}, rest...)
	}
	l.w.head = nh
	l.w.hasIndex = len(rest) > 0
	if l.w.hasIndex {
		l.w.lastIdx = rest[len(rest)-1]
	}
	l.mu.Lock()
	l.mu.index = rest
	l.mu.head = nh
	l.mu.Unlock()
	l.cfg.Metrics.observeTrim(trimmed)
	l.cfg.Metrics.setState(l.Stats())
	l.log.Debug("trimmed", "seq", oldest, "events", trimmed)
	return trimmed, nil
}
