package eventlog

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// Entry is something to append. Frame encodes it once its seq and append
// time are known. It runs on the committer goroutine, once per attempt, so
// it must be cheap (do the expensive work, such as building a CAR slice,
// before Append) and must not call back into the Log. The returned bytes
// must not be modified afterwards.
type Entry interface {
	Frame(seq int64, now time.Time) ([]byte, error)
}

// Event is a sequenced, durable frame. Time is the append time (UTC, never
// decreasing along seq) that was passed to Entry.Frame. Frame is shared with
// every other reader of the same event: never mutate it.
type Event struct {
	Seq   int64
	Time  time.Time
	Frame []byte
}

// Stats is a consistent view of the log's extent.
type Stats struct {
	Head       int64     // last durable seq
	Oldest     int64     // first seq not trimmed
	Events     int64     // events retained
	Bytes      int64     // frame bytes retained
	HeadTime   time.Time // append time of Head; zero if never appended
	OldestTime time.Time // append time of the oldest retained event; zero if empty
	TailEvents int       // events in the in-memory tail
	TailBytes  int64     // bytes the tail accounts for
}

// Log is the sequenced event log. Create it with Open, run it with Run, and
// Close it after Run returned. Reads (ReadFrom, Head, Oldest, Changed) are
// safe from any goroutine at any time.
//
// Lock order: life.mu, then store, then mu. The tail and queue locks are
// leaves.
type Log struct {
	cfg        Config
	log        *slog.Logger
	db         *pebble.DB
	wopts      *pebble.WriteOptions
	indexBytes int64 // checkpoint spacing; indexEveryBytes except in tests

	closed  atomic.Bool  // Close was called: reads fail fast
	head    atomic.Int64 // last published seq
	oldest  atomic.Int64 // trim horizon; raised before a trim is applied
	changed atomic.Pointer[chan struct{}]

	tail *tail
	q    queue

	// mu guards the published view of the store for the trimmer and Stats.
	mu struct {
		sync.Mutex
		index []indexEntry // checkpoints, ascending; index[0] is the oldest retained event
		head  headState
	}

	// w is the committer's private state: only Open (before Run) and the
	// goroutine running Run touch it.
	w struct {
		nextSeq  int64
		head     headState
		lastIdx  indexEntry
		hasIndex bool
	}

	trimMu sync.Mutex // one cut search at a time

	// beforeStoreRead, when set by a test, runs in ReadFrom between its
	// trim check and the store read: the window a racing trim falls into.
	beforeStoreRead func()

	// store keeps readers off a closed Pebble: readers hold it shared.
	store struct {
		sync.RWMutex
		closed bool
	}

	life struct {
		sync.Mutex
		running, ran, closed bool
	}
}

// Open opens (or creates) the log in cfg.Dir and recovers its head. It
// starts no goroutines of its own; appends wait until Run is called.
func Open(cfg Config) (*Log, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	db, err := pebble.Open(cfg.Dir, storeOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", cfg.Dir, err)
	}
	l := &Log{
		cfg:        cfg,
		log:        cfg.Logger,
		db:         db,
		wopts:      pebble.Sync,
		indexBytes: indexEveryBytes,
		tail:       newTail(cfg.TailBytes),
	}
	if cfg.NoSync {
		l.wopts = pebble.NoSync
	}
	l.q.init()
	ch := make(chan struct{})
	l.changed.Store(&ch)
	if err := l.load(); err != nil {
		return nil, errors.Join(fmt.Errorf("open event log %s: %w", cfg.Dir, err), db.Close())
	}
	l.log.Info("event log opened", "seq", l.Head(), "oldest", l.Oldest())
	return l, nil
}

// storeOptions tunes Pebble for an append-only log of frames: the frames
// are CBOR full of hashes and signatures, which snappy barely shrinks, so
// compressing them costs CPU (on the relay's ingest path, next to the
// signature checks) for nothing; bigger memtables mean fewer, larger flushes
// under a fast stream.
func storeOptions(cfg Config) *pebble.Options {
	opts := &pebble.Options{
		Logger:             pebbleLogger{cfg.Logger},
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       memTableSize,
		// Memtables start small and grow: under a burst the first ones fill
		// faster than they flush, and a commit waiting on a flush holds up
		// every appender and every subscriber behind it.
		MemTableStopWritesThreshold: 4,
	}
	for i := range opts.Levels {
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	}
	return opts
}

// memTableSize is the size of one memtable (Pebble keeps up to two in
// memory while one flushes).
const memTableSize = 32 << 20

// load recovers the head and index from the store and checks that they agree
// with the stored events.
func (l *Log) load() error {
	head, err := l.readHead()
	if err != nil {
		return err
	}
	index, err := l.readIndex()
	if err != nil {
		return err
	}
	first, last, found, err := l.eventBounds()
	if err != nil {
		return err
	}
	if err := checkRecovered(head, index, first, last, found); err != nil {
		return err
	}
	l.mu.index = index
	l.mu.head = head
	l.w.head = head
	l.w.nextSeq = max(l.cfg.InitialSeq, head.seq+1)
	if n := len(index); n > 0 {
		l.w.lastIdx, l.w.hasIndex = index[n-1], true
	}
	l.head.Store(head.seq)
	l.oldest.Store(head.oldest)
	l.cfg.Metrics.setState(l.Stats())
	return nil
}

// checkRecovered cross-checks the head, the index and the first and last
// stored event keys.
func checkRecovered(head headState, index []indexEntry, first, last int64, found bool) error {
	for i := 1; i < len(index); i++ {
		a, b := index[i-1], index[i]
		if b.seq <= a.seq || b.time < a.time || b.bytes < a.bytes || b.events <= a.events {
			return fmt.Errorf("%w: index checkpoints %d and %d out of order", ErrCorrupt, a.seq, b.seq)
		}
	}
	if !found {
		if len(index) > 0 {
			return fmt.Errorf("%w: index checkpoint %d but no events", ErrCorrupt, index[0].seq)
		}
		return nil
	}
	if last != head.seq {
		return fmt.Errorf("%w: last event %d, head %d", ErrCorrupt, last, head.seq)
	}
	if len(index) == 0 || index[0].seq != first {
		return fmt.Errorf("%w: first event %d has no index checkpoint", ErrCorrupt, first)
	}
	if first < head.oldest {
		return fmt.Errorf("%w: event %d below trim horizon %d", ErrCorrupt, first, head.oldest)
	}
	top := index[len(index)-1]
	if top.seq > head.seq || top.time > head.time || top.bytes > head.bytes || top.events >= head.events {
		return fmt.Errorf("%w: index checkpoint %d beyond head %d", ErrCorrupt, top.seq, head.seq)
	}
	return nil
}

func (l *Log) readHead() (headState, error) {
	v, closer, err := l.db.Get(headKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return headState{oldest: 1}, nil
	}
	if err != nil {
		return headState{}, fmt.Errorf("read head: %w", err)
	}
	defer closer.Close()
	return decodeHead(v)
}

func (l *Log) readIndex() ([]indexEntry, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixIndex},
		UpperBound: prefixEnd(prefixIndex),
	})
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	var index []indexEntry
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("read index: %w", err), it.Close())
		}
		e, err := decodeIndexEntry(it.Key(), v)
		if err != nil {
			return nil, errors.Join(err, it.Close())
		}
		index = append(index, e)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	return index, nil
}

// eventBounds returns the first and last stored event seqs.
func (l *Log) eventBounds() (first, last int64, found bool, err error) {
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixEvent},
		UpperBound: prefixEnd(prefixEvent),
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("read event bounds: %w", err)
	}
	if it.First() {
		first, err = decodeSeqKey(prefixEvent, it.Key())
		if err == nil && it.Last() {
			last, err = decodeSeqKey(prefixEvent, it.Key())
			found = true
		}
	}
	if cerr := it.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("read event bounds: %w", cerr)
	}
	return first, last, found, err
}

// Head returns the last durable seq; 0 when nothing was ever appended.
func (l *Log) Head() int64 { return l.head.Load() }

// Oldest returns the first seq not trimmed: the oldest retained event's seq,
// or Head()+1 when the log is empty. (After everything was trimmed and a
// raised InitialSeq made seqs jump, it stays below the first retained seq:
// the skipped seqs were never trimmed, they never existed.)
func (l *Log) Oldest() int64 { return l.oldest.Load() }

// OldestTime returns the append time of the oldest retained event, or the
// zero time when the log is empty.
func (l *Log) OldestTime() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.mu.index) == 0 {
		return time.Time{}
	}
	return unixTime(l.mu.index[0].time)
}

// Changed returns a channel that is closed when Head advances (and when Run
// stops). Take a fresh one after each wake, before reading, so that no
// advance is missed.
func (l *Log) Changed() <-chan struct{} { return *l.changed.Load() }

// notify wakes everyone parked on Changed.
func (l *Log) notify() {
	ch := make(chan struct{})
	close(*l.changed.Swap(&ch))
}

// Stats returns a consistent view of the log's extent.
func (l *Log) Stats() Stats {
	n, b := l.tail.stats()
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.mu.head
	s := Stats{Head: h.seq, Oldest: h.oldest, TailEvents: n, TailBytes: b}
	if h.seq > 0 {
		s.HeadTime = unixTime(h.time)
	}
	if len(l.mu.index) > 0 {
		first := l.mu.index[0]
		s.Events = h.events - first.events
		s.Bytes = h.bytes - first.bytes
		s.OldestTime = unixTime(first.time)
	}
	return s
}

// Close closes the store. It fails with ErrRunning while Run is active;
// cancel Run's context and wait for it first. Appends still queued (Run never
// ran) fail with ErrClosed. Close is idempotent.
func (l *Log) Close() error {
	l.life.Lock()
	defer l.life.Unlock()
	if l.life.running {
		return fmt.Errorf("close: %w", ErrRunning)
	}
	if l.life.closed {
		return nil
	}
	l.life.closed = true
	l.closed.Store(true)
	reqs, tr := l.q.close(ErrClosed)
	failPending(reqs, tr, ErrClosed)

	l.store.Lock()
	l.store.closed = true
	err := l.db.Close()
	l.store.Unlock()
	l.notify()
	if err != nil {
		return fmt.Errorf("close event log: %w", err)
	}
	return nil
}

// unixTime is the one conversion from stored nanos, so that events read from
// the tail and from Pebble carry identical times.
func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// pebbleLogger sends Pebble's own lines to the log's slog.Logger. Pebble's
// Info lines (WAL and compaction chatter) go to Debug.
type pebbleLogger struct{ log *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf must not return (Pebble calls it on broken internal invariants and
// continues as if it had stopped). A library must not exit the process, so it
// panics with the message after logging it.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	p.log.Error(msg)
	panic(msg)
}
