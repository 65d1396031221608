package appview

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
)

// errStopped: the pipeline's sequencer has stopped; no more events are
// taken.
var errStopped = errors.New("appview: indexing pipeline stopped")

// pipeline indexes a stream in two stages. Workers prepare events (verify
// proof and signature, decode and validate records) out of order; one
// sequencer applies the prepared events in stream order, in batches of at
// most maxBatch events, and commits each batch's effects together with the
// cursor of its last event. So the cursor only ever names a prefix of the
// stream whose effects are all committed, whatever order the workers
// finish in; and at most depth events are in flight (submit blocks).
type pipeline struct {
	cfg pipelineConfig
	x   *indexer
	db  *pebble.DB
	cp  *consumer.Checkpoint
	// committed is the seq of the last committed event (shared with the
	// Server).
	committed *atomic.Int64

	work    chan *job // to the workers, unordered
	order   chan *job // to the sequencer, in stream order
	stopped chan struct{}
}

type pipelineConfig struct {
	workers, depth, maxBatch int
	wo                       *pebble.WriteOptions
	// retryMin and retryMax bound the wait before preparing an event again
	// whose signing key could not be resolved.
	retryMin, retryMax time.Duration
	// onFail is called when the sequencer fails, to stop the submitter.
	onFail func()
	// onCommit, if set, is told of each committed batch.
	onCommit func(n int, last consumer.Event)
}

// job is one event in flight. Whoever claims it (a worker, or the
// sequencer when the job it needs next is still unclaimed) prepares it and
// closes done.
type job struct {
	ev      consumer.Event
	prep    prepared
	claimed atomic.Bool
	done    chan struct{}
}

// prepareIfUnclaimed prepares j unless someone else has claimed it; it
// reports whether it did.
func (p *pipeline) prepareIfUnclaimed(ctx context.Context, j *job) bool {
	if !j.claimed.CompareAndSwap(false, true) {
		return false
	}
	j.prep = p.x.prepare(ctx, j.ev)
	close(j.done)
	return true
}

func newPipeline(x *indexer, db *pebble.DB, cp *consumer.Checkpoint, committed *atomic.Int64, cfg pipelineConfig) *pipeline {
	return &pipeline{cfg: cfg, x: x, db: db, cp: cp, committed: committed,
		// A job waits in work only while it is also in order or is the one
		// the sequencer waits for, so work never fills before order does.
		work:    make(chan *job, cfg.depth+1),
		order:   make(chan *job, cfg.depth),
		stopped: make(chan struct{}),
	}
}

// submit queues ev behind every event submitted before it. It blocks while
// depth events are in flight; it fails once the sequencer has stopped or
// ctx is done. Only one goroutine submits (the consumer's).
func (p *pipeline) submit(ctx context.Context, ev consumer.Event) error {
	j := &job{ev: ev, done: make(chan struct{})}
	select {
	case p.order <- j:
	case <-ctx.Done():
		return fmt.Errorf("submit seq %d: %w", ev.Seq, ctx.Err())
	case <-p.stopped:
		return errStopped
	}
	p.work <- j
	return nil
}

// close says no more events will be submitted: run applies the ones in
// flight and returns.
func (p *pipeline) close() {
	close(p.order)
	close(p.work)
}

// run runs the workers and the sequencer until the pipeline is closed and
// drained, ctx is cancelled (the pending batch is committed; events not
// yet applied are not, and come again from the stored cursor), or a commit
// fails. It returns after every goroutine it started has stopped.
func (p *pipeline) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range p.cfg.workers {
		wg.Go(func() {
			for j := range p.work {
				p.prepareIfUnclaimed(ctx, j)
			}
		})
	}
	s := sequencer{p: p}
	err := s.run(ctx)
	close(p.stopped) // a blocked submit gives up
	if err != nil && p.cfg.onFail != nil {
		p.cfg.onFail() // stop the consumer, which then closes the pipeline
	}
	wg.Wait() // the workers end when close is called
	return err
}

// sequencer applies prepared events in order; only run's goroutine uses it.
type sequencer struct {
	p       *pipeline
	batch   *pebble.Batch
	pending int
	last    consumer.Event
}

func (s *sequencer) run(ctx context.Context) error {
	defer s.discard()
	for {
		var j *job
		var open bool
		select {
		case j, open = <-s.p.order:
		default:
			// Nothing is waiting: commit what we have before blocking.
			if err := s.flush(); err != nil {
				return err
			}
			select {
			case j, open = <-s.p.order:
			case <-ctx.Done():
				return s.flush()
			}
		}
		if !open {
			return s.flush()
		}
		// The workers are behind: prepare the next event here rather
		// than park until one gets to it.
		if !s.p.prepareIfUnclaimed(ctx, j) {
			select {
			case <-j.done:
			case <-ctx.Done():
				return s.flush()
			}
		}
		if ctx.Err() != nil {
			return s.flush()
		}
		if j.prep.retry {
			if err := s.flush(); err != nil {
				return err
			}
			if !s.reprepare(ctx, j) {
				return nil
			}
		}
		if err := s.apply(ctx, j); err != nil {
			return err
		}
		if s.pending >= s.p.cfg.maxBatch {
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
}

// reprepare prepares j again, backing off, until its signing key resolves
// (as the consumer redelivers an event whose handler asked for a retry);
// later events wait, so the order holds. It is false if ctx ended first.
func (s *sequencer) reprepare(ctx context.Context, j *job) bool {
	wait := s.p.cfg.retryMin
	for j.prep.retry {
		s.p.x.log.Warn("signing key unavailable; retrying", "did", repoOf(j.ev), "seq", j.ev.Seq, "err", j.prep.err, "took", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, s.p.cfg.retryMax)
		j.prep = s.p.x.prepare(ctx, j.ev)
	}
	return ctx.Err() == nil
}

func (s *sequencer) apply(ctx context.Context, j *job) error {
	if s.batch == nil {
		s.batch = s.p.db.NewIndexedBatch()
	}
	if err := s.p.x.apply(ctx, j.ev, j.prep, s.batch); err != nil {
		s.discard()
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil
		}
		return fmt.Errorf("appview: index seq %d: %w", j.ev.Seq, err)
	}
	s.pending++
	s.last = j.ev
	return nil
}

// flush commits the pending events' effects with their cursor.
func (s *sequencer) flush() error {
	if s.pending == 0 {
		return nil
	}
	b := s.batch
	if err := s.p.cp.Set(b, s.last.Seq); err != nil {
		s.discard()
		return err
	}
	err := b.Commit(s.p.cfg.wo)
	_ = b.Close()
	n, last := s.pending, s.last
	s.batch, s.pending, s.last = nil, 0, consumer.Event{}
	if err != nil {
		return fmt.Errorf("appview: commit batch ending at seq %d: %w", last.Seq, err)
	}
	s.p.committed.Store(last.Seq)
	if s.p.cfg.onCommit != nil {
		s.p.cfg.onCommit(n, last)
	}
	return nil
}

func (s *sequencer) discard() {
	if s.batch != nil {
		_ = s.batch.Close()
	}
	s.batch, s.pending, s.last = nil, 0, consumer.Event{}
}

// repoOf names the account a #commit is about, for logs.
func repoOf(ev consumer.Event) string {
	if c, ok := ev.Frame.Msg.(*firehose.Commit); ok {
		return c.Repo
	}
	return ""
}
