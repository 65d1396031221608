package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// DurableHandler handles one event in durable mode by writing its effects
// into b, an indexed batch of the caller's DB. It must read its own state
// through b (b.Get, b.NewIter), which also sees the writes of the earlier
// events of the same batch, and must not commit or close b. Returning an
// error discards the whole batch (the events before it in the batch are
// delivered again later); errors are treated as in Handler.
type DurableHandler interface {
	HandleEvent(ctx context.Context, ev Event, b *pebble.Batch) error
}

// DurableHandlerFunc adapts a function to DurableHandler.
type DurableHandlerFunc func(ctx context.Context, ev Event, b *pebble.Batch) error

// HandleEvent calls f.
func (f DurableHandlerFunc) HandleEvent(ctx context.Context, ev Event, b *pebble.Batch) error {
	return f(ctx, ev, b)
}

// Checkpoint is one durable consumer's cursor in a Pebble DB (see keys.go).
type Checkpoint struct {
	db  *pebble.DB
	key []byte
}

// NewCheckpoint returns the checkpoint of the consumer called name in db.
func NewCheckpoint(db *pebble.DB, name string) (*Checkpoint, error) {
	if db == nil {
		return nil, errors.New("consumer checkpoint: nil DB")
	}
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("consumer checkpoint: %w", err)
	}
	return &Checkpoint{db: db, key: CursorKey(name)}, nil
}

// Load returns the stored cursor; ok is false when nothing was committed
// yet.
func (cp *Checkpoint) Load() (seq int64, ok bool, err error) {
	v, closer, err := cp.db.Get(cp.key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("load consumer cursor: %w", err)
	}
	defer closer.Close()
	seq, err = decodeCursor(v)
	if err != nil {
		return 0, false, fmt.Errorf("load consumer cursor %q: %w", cp.key, err)
	}
	return seq, true, nil
}

// Set writes seq as the cursor into w (normally the batch that also holds
// the effects of the events up to seq).
func (cp *Checkpoint) Set(w pebble.Writer, seq int64) error {
	if seq < 1 {
		return fmt.Errorf("set consumer cursor: seq %d below 1", seq)
	}
	if err := w.Set(cp.key, encodeCursor(seq), nil); err != nil {
		return fmt.Errorf("set consumer cursor: %w", err)
	}
	return nil
}

// durableProc gathers handled events into one batch and commits them with
// the cursor. Only the Run goroutine uses it.
type durableProc struct {
	c        *Consumer
	h        DurableHandler
	db       *pebble.DB
	cp       *Checkpoint
	maxBatch int
	wo       *pebble.WriteOptions
	onCommit func(n int, last Event)

	batch   *pebble.Batch // nil when nothing is pending
	pending int
	last    Event
}

func newDurableProc(c *Consumer, d *Durable) (*durableProc, error) {
	cp, err := NewCheckpoint(d.DB, d.Name)
	if err != nil {
		return nil, err
	}
	p := &durableProc{c: c, h: d.Handler, db: d.DB, cp: cp, maxBatch: d.MaxBatchEvents, wo: pebble.Sync, onCommit: d.OnCommit}
	if p.maxBatch == 0 {
		p.maxBatch = DefaultMaxBatchEvents
	}
	if d.NoSync {
		p.wo = pebble.NoSync
	}
	return p, nil
}

func (p *durableProc) startCursor() (int64, bool, error) { return p.cp.Load() }

func (p *durableProc) handle(ctx context.Context, ev Event) error {
	if p.batch == nil {
		p.batch = p.db.NewIndexedBatch()
	}
	if err := p.h.HandleEvent(ctx, ev, p.batch); err != nil {
		// The batch holds part of this event's writes: nothing in it can
		// be committed.
		p.discard()
		return err
	}
	p.pending++
	p.last = ev
	return nil
}

func (p *durableProc) full() bool { return p.pending >= p.maxBatch }

// flush commits the pending events together with their cursor.
func (p *durableProc) flush() error {
	if p.pending == 0 {
		return nil
	}
	b := p.batch
	if err := p.cp.Set(b, p.last.Seq); err != nil {
		p.discard()
		return err
	}
	start := time.Now()
	err := b.Commit(p.wo)
	took := time.Since(start)
	_ = b.Close() // after Commit, Close only recycles the batch
	n, last := p.pending, p.last
	p.batch, p.pending, p.last = nil, 0, Event{}
	if err != nil {
		return fmt.Errorf("consumer: commit batch ending at seq %d: %w", last.Seq, err)
	}
	p.c.cfg.Metrics.commit(n, took)
	p.c.advance(n, last)
	if p.onCommit != nil {
		p.onCommit(n, last)
	}
	return nil
}

func (p *durableProc) discard() {
	if p.batch != nil {
		_ = p.batch.Close() // an uncommitted batch: Close just drops it
	}
	p.batch, p.pending, p.last = nil, 0, Event{}
}
