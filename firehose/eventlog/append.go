package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Request states. An appender that gives up (ctx done) may cancel a request
// only while it is pending; once the committer claimed it, the appender waits
// for the outcome, so an error from Append always means "not appended".
const (
	reqPending int32 = iota
	reqClaimed
	reqCanceled
)

// request is one Append or AppendBatch call waiting for the committer.
type request struct {
	entries []Entry
	state   atomic.Int32
	done    chan struct{}
	// Set by the committer before closing done.
	events []Event
	err    error
}

func (r *request) finish(events []Event, err error) {
	r.events, r.err = events, err
	close(r.done)
}

// trimRequest asks the committer to apply a cut the trimmer found.
type trimRequest struct {
	plan    trimPlan
	done    chan struct{}
	trimmed int64 // set by the committer before closing done
	err     error
}

func (t *trimRequest) finish(trimmed int64, err error) {
	t.trimmed, t.err = trimmed, err
	close(t.done)
}

// queue hands requests to the committer. It is a mutex-guarded slice rather
// than a channel so that closing it and collecting what is left is one atomic
// step: nothing can slip in after the committer's last look.
type queue struct {
	mu       sync.Mutex
	reqs     []*request
	trim     *trimRequest
	closed   bool
	closeErr error
	signal   chan struct{} // capacity 1: "something was queued"
}

func (q *queue) init() { q.signal = make(chan struct{}, 1) }

func (q *queue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *queue) push(rs ...*request) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return q.closeErr
	}
	q.reqs = append(q.reqs, rs...)
	q.mu.Unlock()
	q.wake()
	return nil
}

// pushTrim queues a trim, replacing (and failing) one not yet applied.
func (q *queue) pushTrim(t *trimRequest) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return q.closeErr
	}
	old := q.trim
	q.trim = t
	q.mu.Unlock()
	if old != nil {
		old.finish(0, errors.New("trim: superseded by a newer cut"))
	}
	q.wake()
	return nil
}

// take removes up to maxEntries entries' worth of requests (at least one
// request) and any queued trim.
func (q *queue) take(maxEntries int) ([]*request, *trimRequest) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, entries := 0, 0
	for n < len(q.reqs) && (n == 0 || entries+len(q.reqs[n].entries) <= maxEntries) {
		entries += len(q.reqs[n].entries)
		n++
	}
	reqs := make([]*request, n)
	copy(reqs, q.reqs)
	clear(q.reqs[:n])
	q.reqs = q.reqs[n:]
	if len(q.reqs) == 0 {
		q.reqs = q.reqs[:0:0] // let the backing array go
	}
	tr := q.trim
	q.trim = nil
	return reqs, tr
}

// close stops the queue: later pushes fail with err. It returns what was
// still queued.
func (q *queue) close(err error) ([]*request, *trimRequest) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed, q.closeErr = true, err
	}
	reqs, tr := q.reqs, q.trim
	q.reqs, q.trim = nil, nil
	return reqs, tr
}

// failPending fails requests that were never committed.
func failPending(reqs []*request, tr *trimRequest, err error) {
	for _, r := range reqs {
		if r.state.CompareAndSwap(reqPending, reqClaimed) {
			r.finish(nil, err)
		}
	}
	if tr != nil {
		tr.finish(0, err)
	}
}

// Append sequences e and returns its event once it is durable. If ctx ends
// before the committer took the entry, Append returns the context's error and
// nothing is appended; once taken, Append waits for the commit. Appends wait
// for Run to be running.
func (l *Log) Append(ctx context.Context, e Entry) (Event, error) {
	events, err := l.submit(ctx, []Entry{e})
	if err != nil {
		return Event{}, err
	}
	return events[0], nil
}

// AppendBatch sequences es with consecutive seqs, all in one commit, and
// returns their events in order. Either all are appended or none.
func (l *Log) AppendBatch(ctx context.Context, es []Entry) ([]Event, error) {
	if len(es) == 0 {
		return nil, nil
	}
	return l.submit(ctx, es)
}

// AppendEach appends each of es as its own append, in order: an entry that
// fails (one that cannot be encoded, say) fails alone, with its error in
// errs[i], and uses no seq; the others get consecutive seqs among
// themselves unless other appends interleave. They are queued at once, so
// they usually share one commit, and the caller waits once for all of them
// instead of once per entry. If ctx ends, entries the committer had not
// taken yet fail with the context's error; later entries may still have
// been appended.
func (l *Log) AppendEach(ctx context.Context, es []Entry) (evs []Event, errs []error) {
	evs, errs = make([]Event, len(es)), make([]error, len(es))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("append: %w", context.Cause(ctx))
		}
		return evs, errs
	}
	reqs := make([]*request, len(es))
	for i, e := range es {
		reqs[i] = &request{entries: []Entry{e}, done: make(chan struct{})}
	}
	if err := l.q.push(reqs...); err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("append: %w", err)
		}
		return evs, errs
	}
	for i, r := range reqs {
		select {
		case <-r.done:
		case <-ctx.Done():
			if r.state.CompareAndSwap(reqPending, reqCanceled) {
				errs[i] = fmt.Errorf("append: %w", context.Cause(ctx))
				continue
			}
			<-r.done
		}
		if r.err != nil {
			errs[i] = r.err
		} else {
			evs[i] = r.events[0]
		}
	}
	return evs, errs
}

func (l *Log) submit(ctx context.Context, es []Entry) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("append: %w", context.Cause(ctx))
	}
	r := &request{entries: es, done: make(chan struct{})}
	if err := l.q.push(r); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqCanceled) {
			return nil, fmt.Errorf("append: %w", context.Cause(ctx))
		}
		<-r.done // claimed: the commit is under way and bounded by one fsync
	}
	return r.events, r.err
}
