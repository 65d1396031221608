package relay

import (
	"net/http"
	"sort"
	"sync"
	"time"
)

// consumerInfo is one connected subscriber, for the admin API.
type consumerInfo struct {
	ID          int64     `json:"id"`
	RemoteAddr  string    `json:"remote_addr"`
	UserAgent   string    `json:"user_agent"`
	ConnectedAt time.Time `json:"connected_at"`
}

// consumerRegistry tracks subscribers: the subscribe server's ServeHTTP
// returns only when the connection ends, so wrapping it brackets the
// connection's life.
type consumerRegistry struct {
	mu   sync.Mutex
	next int64
	m    map[int64]consumerInfo
	// onChange, if set, gets the number of subscribers after each change
	// (under mu, so calls are ordered).
	onChange func(n int)
}

func (c *consumerRegistry) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c.mu.Lock()
		if c.m == nil {
			c.m = map[int64]consumerInfo{}
		}
		c.next++
		id := c.next
		c.m[id] = consumerInfo{ID: id, RemoteAddr: req.RemoteAddr, UserAgent: req.UserAgent(), ConnectedAt: time.Now().UTC()}
		c.changedLocked()
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			delete(c.m, id)
			c.changedLocked()
			c.mu.Unlock()
		}()
		h.ServeHTTP(w, req)
	})
}

func (c *consumerRegistry) list() []consumerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]consumerInfo, 0, len(c.m))
	for _, ci := range c.m {
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (c *consumerRegistry) changedLocked() {
	if c.onChange != nil {
		c.onChange(len(c.m))
	}
}
