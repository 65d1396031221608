package eventlog

import "sync"

// tailEventOverhead is what one event costs the tail besides its frame (the
// Event in the ring and the frame's allocation header, roughly), so that a
// tail of tiny frames is still bounded.
const tailEventOverhead = 64

// tail is the in-memory ring of the most recent durable events. Seqs in it
// are consecutive (only the committer pushes, and within one process the
// committer assigns consecutive seqs). Readers copy Event values out under
// the read lock; the frames themselves are shared, never copied.
type tail struct {
	limit int64

	mu    sync.RWMutex
	ring  []Event // circular; len(ring) is the capacity
	start int     // ring index of the oldest event
	n     int     // events held
	first int64   // seq of the oldest event (when n > 0)
	bytes int64
}

func newTail(limit int64) *tail { return &tail{limit: limit} }

// push appends the events of committed requests, in order, and evicts the
// oldest events while over the limit.
func (t *tail) push(reqs []*request) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range reqs {
		for _, ev := range r.events {
			t.pushLocked(ev)
		}
	}
	for t.n > 0 && t.bytes > t.limit {
		t.popLocked()
	}
}

func (t *tail) pushLocked(ev Event) {
	if t.n > 0 && ev.Seq != t.first+int64(t.n) {
		// Not contiguous: cannot happen within one committer, but a ring
		// indexed by seq must never hold a gap, so start over.
		for t.n > 0 {
			t.popLocked()
		}
	}
	if t.n == len(t.ring) {
		t.growLocked()
	}
	if t.n == 0 {
		t.first = ev.Seq
	}
	t.ring[(t.start+t.n)%len(t.ring)] = ev
	t.n++
	t.bytes += int64(len(ev.Frame)) + tailEventOverhead
}

func (t *tail) growLocked() {
	size := max(2*len(t.ring), 1024)
	ring := make([]Event, size)
	for i := range t.n {
		ring[i] = t.ring[(t.start+i)%len(t.ring)]
	}
	t.ring, t.start = ring, 0
}

func (t *tail) popLocked() {
	ev := &t.ring[t.start]
	t.bytes -= int64(len(ev.Frame)) + tailEventOverhead
	*ev = Event{} // drop the frame so it can be collected
	t.start = (t.start + 1) % len(t.ring)
	t.n--
	t.first++
}

// dropBelow evicts events with seq < seq (they were trimmed).
func (t *tail) dropBelow(seq int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.n > 0 && t.first < seq {
		t.popLocked()
	}
}

// read appends to dst up to limit events with from <= seq <= head. ok is
// false when from is below the tail; first is then the tail's oldest seq (0
// when the tail is empty), the point where a store read may hand over.
func (t *tail) read(from, head int64, dst []Event, limit int) (_ []Event, first int64, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.n == 0 {
		return dst, 0, false
	}
	if from < t.first {
		return dst, t.first, false
	}
	end := min(head, t.first+int64(t.n)-1)
	if end < from || limit <= 0 {
		return dst, t.first, true
	}
	count := int(min(end-from+1, int64(limit)))
	// At most two contiguous spans of the ring.
	i := (t.start + int(from-t.first)) % len(t.ring)
	for count > 0 {
		j := min(i+count, len(t.ring))
		dst = append(dst, t.ring[i:j]...)
		count -= j - i
		i = 0
	}
	return dst, t.first, true
}

func (t *tail) stats() (int, int64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.n, t.bytes
}
