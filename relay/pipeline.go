package relay

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/relay/internal/verify"
)

// DefaultHostWorkers is how many events of one host are processed at once.
const DefaultHostWorkers = 8

// pipeline processes one host's events in order per DID and in parallel
// across DIDs: each event goes to the worker its DID hashes to, so one
// account's events keep their order while different accounts' run at once.
//
// The host cursor is the highest seq at or below which every event is done
// (appended to the log and its account state written, or dropped). It is the
// only cursor ever stored, so after a crash the host resends every event that
// might not have been appended: duplicates, never losses. Events without a
// DID (none today) would go to worker 0.
type pipeline struct {
	r       *Relay
	in      *ingester
	cp      *consumer.Checkpoint
	seed    maphash.Seed
	workers []chan consumer.Event
	wg      sync.WaitGroup
	fail    context.CancelCauseFunc

	mu struct {
		sync.Mutex
		pending []int64        // seqs handed to workers, in arrival order
		done    map[int64]bool // finished seqs not yet at the front
		cursor  int64          // every seq <= cursor is done
		saved   int64
		savedAt time.Time
	}
}

func newPipeline(r *Relay, in *ingester, cp *consumer.Checkpoint, n int, fail context.CancelCauseFunc) *pipeline {
	p := &pipeline{r: r, in: in, cp: cp, seed: maphash.MakeSeed(), fail: fail}
	p.mu.done = map[int64]bool{}
	p.mu.cursor, p.mu.saved = -1, -1
	for range n {
		p.workers = append(p.workers, make(chan consumer.Event, 64))
	}
	return p
}

func (p *pipeline) start(ctx context.Context) {
	for _, ch := range p.workers {
		p.wg.Add(1)
		go p.work(ctx, ch)
	}
}

// stop waits for the workers (their queue is drained or ctx is over) and
// saves the cursor.
func (p *pipeline) stop() {
	for _, ch := range p.workers {
		close(ch)
	}
	p.wg.Wait()
	p.mu.Lock()
	p.saveLocked(false, true)
	p.mu.Unlock()
}

// HandleEvent queues ev on its DID's worker; a full queue blocks the
// consumer, which is the backpressure on the host's socket.
func (p *pipeline) HandleEvent(ctx context.Context, ev consumer.Event) error {
	ch := p.workers[p.shard(ev)]
	p.mu.Lock()
	p.mu.pending = append(p.mu.pending, ev.Seq)
	p.mu.Unlock()
	select {
	case ch <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeline) shard(ev consumer.Event) int {
	return int(maphash.String(p.seed, ev.Frame.DID()) % uint64(len(p.workers)))
}

// maxWorkerBatch bounds how many queued events one worker handles before
// committing their state writes together.
const maxWorkerBatch = 32

// work processes its queue. Whatever is queued when it looks is handled as
// one batch: the events one by one (in order), their state writes in one
// commit, then their seqs marked done at once.
func (p *pipeline) work(ctx context.Context, ch <-chan consumer.Event) {
	defer p.wg.Done()
	tx := newStateTx(p.r.db)
	defer tx.close()
	batch := make([]consumer.Event, 0, maxWorkerBatch)
	done := make([]int64, 0, maxWorkerBatch)
	for ev := range ch {
		batch = append(batch[:0], ev)
	drain:
		for len(batch) < maxWorkerBatch {
			select {
			case e, ok := <-ch:
				if !ok {
					break drain
				}
				batch = append(batch, e)
			default:
				break drain
			}
		}
		done = done[:0]
		for i, ev := range batch {
			if ctx.Err() != nil {
				break // not done: the cursor stays below it
			}
			tx.cur = i
			if f := p.r.storeFault; f != nil {
				if err := f(); err != nil {
					p.fail(fmt.Errorf("process seq %d: %w", ev.Seq, err))
					break
				}
			}
			if err := p.r.process(ctx, p.in, ev, tx); err != nil {
				if !errors.Is(err, context.Canceled) {
					p.fail(fmt.Errorf("process seq %d: %w", ev.Seq, err))
				}
				break
			}
			done = append(done, ev.Seq)
		}
		if !p.appendStaged(ctx, tx, batch) {
			continue // not done: the cursor stays below the whole batch
		}
		if err := tx.commit(); err != nil {
			p.fail(err)
			continue
		}
		p.finish(done)
	}
}

// appendStaged appends the events the batch staged, all queued at once, and
// reports whether the batch may be committed. An event that cannot be
// encoded is dropped and counted; if the log fails (or ctx ends), the
// batch's state changes are discarded and none of it is done.
func (p *pipeline) appendStaged(ctx context.Context, tx *stateTx, batch []consumer.Event) bool {
	if len(tx.entries) == 0 {
		return true
	}
	evs, errs := p.r.events.AppendEach(ctx, tx.entries)
	var fatal error
	for j, err := range errs {
		if err == nil {
			p.r.metrics.head(evs[j].Seq)
			continue
		}
		err = appendErr(ctx, err)
		var rej *verify.Rejection
		if errors.As(err, &rej) {
			p.r.dropped(ctx, p.in.snapshot().Hostname, batch[tx.owners[j]], rej)
			continue
		}
		if fatal == nil {
			fatal = err
		}
	}
	if fatal == nil {
		return true
	}
	tx.discard(p.r.accounts)
	if !errors.Is(fatal, context.Canceled) {
		p.fail(fatal)
	}
	return false
}

// finish marks seqs done and advances the cursor over the done prefix.
func (p *pipeline) finish(seqs []int64) {
	if len(seqs) == 0 {
		return
	}
	p.mu.Lock()
	for _, seq := range seqs {
		p.mu.done[seq] = true
	}
	n := 0
	for n < len(p.mu.pending) && p.mu.done[p.mu.pending[n]] {
		delete(p.mu.done, p.mu.pending[n])
		p.mu.cursor = p.mu.pending[n]
		n++
	}
	p.mu.pending = p.mu.pending[n:]
	idle := len(p.mu.pending) == 0
	p.mu.Unlock()
	if n > 0 {
		p.save(!idle)
	}
}

// saveEvery spaces cursor writes while events are in flight: a cursor is
// one small write, but one per event would be a Pebble commit per event.
// When the pipeline goes idle the cursor is written at once.
const saveEvery = 20 * time.Millisecond

// save stores the cursor if it moved (and the host record if it changed,
// in the same batch, so that concurrent workers' host writes cannot land out
// of order). busy skips a save within saveEvery of the last. Without fsync
// unless final: a lost write only means an older cursor, so more duplicates
// after a crash.
func (p *pipeline) save(busy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.saveLocked(busy, false)
}

func (p *pipeline) saveLocked(busy, final bool) {
	if p.mu.cursor <= p.mu.saved || (busy && time.Since(p.mu.savedAt) < saveEvery) {
		return
	}
	b := p.r.db.NewBatch()
	defer b.Close()
	err := p.cp.Set(b, p.mu.cursor)
	if err == nil {
		err = p.in.storeHost(b)
	}
	if err == nil {
		opts := pebble.NoSync
		if final {
			opts = pebble.Sync
		}
		err = b.Commit(opts)
	}
	if err != nil {
		p.fail(fmt.Errorf("save host cursor: %w", err))
		return
	}
	p.mu.saved, p.mu.savedAt = p.mu.cursor, time.Now()
}
