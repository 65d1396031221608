package subscribe

import "github.com/prometheus/client_golang/prometheus"

// endReason says why a connection ended. It doubles as the reason label of
// conflux_subscribe_drops_total.
type endReason uint8

const (
	endClientClosed    endReason = iota // the client closed, or its side of the socket failed
	endConsumerTooSlow                  // its next event was trimmed: ConsumerTooSlow
	endWriteTimeout                     // a write blocked past WriteTimeout (a stalled consumer)
	endWriteError                       // a write failed otherwise
	endFutureCursor                     // cursor > head: FutureCursor
	endPingTimeout                      // an idle connection did not answer a ping
	endShutdown                         // the server is shutting down
	endLogClosed                        // the log was closed under the server
	endLogError                         // the log failed a read (our own corruption)
	numEndReasons
)

var endReasonNames = [numEndReasons]string{
	endClientClosed:    "client_closed",
	endConsumerTooSlow: "consumer_too_slow",
	endWriteTimeout:    "write_timeout",
	endWriteError:      "write_error",
	endFutureCursor:    "future_cursor",
	endPingTimeout:     "ping_timeout",
	endShutdown:        "shutdown",
	endLogClosed:       "log_closed",
	endLogError:        "log_error",
}

func (r endReason) String() string { return endReasonNames[r] }

// rejectReason says why a request was refused before the upgrade. It doubles
// as the reason label of conflux_subscribe_rejects_total.
type rejectReason uint8

const (
	rejectMethod    rejectReason = iota // not GET: 405
	rejectBadCursor                     // cursor not an integer >= 0: 400
	rejectNoUpgrade                     // not a WebSocket upgrade: 426
	rejectIPLimit                       // over MaxConnsPerIP: 429
	rejectShutdown                      // the server is shutting down: 503
	rejectHandshake                     // the upgrade itself failed
	numRejectReasons
)

var rejectReasonNames = [numRejectReasons]string{
	rejectMethod:    "bad_method",
	rejectBadCursor: "bad_cursor",
	rejectNoUpgrade: "no_upgrade",
	rejectIPLimit:   "ip_limit",
	rejectShutdown:  "shutting_down",
	rejectHandshake: "handshake",
}

func (r rejectReason) String() string { return rejectReasonNames[r] }

// Metrics are the server's Prometheus series. A nil *Metrics is a no-op.
type Metrics struct {
	subscribers prometheus.Gauge
	frames      prometheus.Counter
	bytes       prometheus.Counter
	outdated    prometheus.Counter
	drops       [numEndReasons]prometheus.Counter
	rejects     [numRejectReasons]prometheus.Counter
}

// NewMetrics creates the conflux_subscribe_* series and registers them with
// reg (if non-nil). Registering twice on one registry panics, as
// prometheus.MustRegister does; a process serving several streams wraps reg
// with a constant label per stream (prometheus.WrapRegistererWith).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_subscribe_subscribers",
			Help: "Open subscriber connections.",
		}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_subscribe_frames_sent_total",
			Help: "Frames (events, #info and error frames) written to subscribers.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_subscribe_sent_bytes_total",
			Help: "Frame bytes written to subscribers (WebSocket payloads).",
		}),
		outdated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_subscribe_outdated_cursors_total",
			Help: "Subscribers whose cursor was older than the retained window (#info OutdatedCursor sent).",
		}),
	}
	drops := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conflux_subscribe_drops_total",
		Help: "Subscriber connections ended, by reason (write_timeout and consumer_too_slow are slow consumers).",
	}, []string{"reason"})
	for r := range numEndReasons {
		m.drops[r] = drops.WithLabelValues(r.String())
	}
	rejects := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conflux_subscribe_rejects_total",
		Help: "Subscription requests refused before the WebSocket upgrade, by reason.",
	}, []string{"reason"})
	for r := range numRejectReasons {
		m.rejects[r] = rejects.WithLabelValues(r.String())
	}
	if reg != nil {
		reg.MustRegister(m.subscribers, m.frames, m.bytes, m.outdated, drops, rejects)
	}
	return m
}

func (m *Metrics) connected(delta float64) {
	if m != nil {
		m.subscribers.Add(delta)
	}
}

func (m *Metrics) sent(frames, bytes int) {
	if m != nil {
		m.frames.Add(float64(frames))
		m.bytes.Add(float64(bytes))
	}
}

func (m *Metrics) outdatedCursor() {
	if m != nil {
		m.outdated.Inc()
	}
}

func (m *Metrics) dropped(r endReason) {
	if m != nil {
		m.drops[r].Inc()
	}
}

func (m *Metrics) rejected(r rejectReason) {
	if m != nil {
		m.rejects[r].Inc()
	}
}
