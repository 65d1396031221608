package relay

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
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
	p.save(true)
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
	var did string
	switch m := ev.Frame.Msg.(type) {
	case *firehose.Commit:
		did = m.Repo
	case *firehose.Sync:
		did = m.DID
	case *firehose.Identity:
		did = m.DID
	case *firehose.Account:
		did = m.DID
	}
	return int(maphash.String(p.seed, did) % uint64(len(p.workers)))
}

func (p *pipeline) work(ctx context.Context, ch <-chan consumer.Event) {
	defer p.wg.Done()
	for ev := range ch {
		if ctx.Err() != nil {
			continue // not done: the cursor stays below it
		}
		err := p.r.process(ctx, p.in, ev, p.r.db)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				p.fail(fmt.Errorf("process seq %d: %w", ev.Seq, err))
			}
			continue
		}
		p.finish(ev.Seq)
	}
}

// finish marks seq done and advances the cursor over the done prefix.
func (p *pipeline) finish(seq int64) {
	p.mu.Lock()
	p.mu.done[seq] = true
	n := 0
	for n < len(p.mu.pending) && p.mu.done[p.mu.pending[n]] {
		delete(p.mu.done, p.mu.pending[n])
		p.mu.cursor = p.mu.pending[n]
		n++
	}
	p.mu.pending = p.mu.pending[n:]
	p.mu.Unlock()
	if n > 0 {
		p.save(false)
	}
}

// save stores the cursor if it moved. Without fsync: a lost write only
// means an older cursor, so more duplicates after a crash.
func (p *pipeline) save(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.cursor <= p.mu.saved {
		return
	}
	b := p.r.db.NewBatch()
	defer b.Close()
	err := p.cp.Set(b, p.mu.cursor)
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
	p.mu.saved = p.mu.cursor
}
