package consumer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DropReason says why the consumer closed a connection. It doubles as the
// reason label of conflux_consumer_disconnects_total.
type DropReason string

// Drop reasons.
const (
	DropReadError       DropReason = "read_error"        // network error, server closed or vanished
	DropIdleTimeout     DropReason = "idle_timeout"      // nothing (not even a pong) for IdleTimeout
	DropTooBig          DropReason = "too_big"           // message over ReadLimit
	DropTextFrame       DropReason = "text_frame"        // a text message (protocol error)
	DropBadFrame        DropReason = "bad_frame"         // undecodable frame, or a seq below 1
	DropOutOfOrder      DropReason = "out_of_order"      // a seq that repeats or goes backwards
	DropConsumerTooSlow DropReason = "consumer_too_slow" // error frame ConsumerTooSlow
	DropFutureCursor    DropReason = "future_cursor"     // error frame FutureCursor
	DropErrorFrame      DropReason = "error_frame"       // any other error frame
	DropHandlerRetry    DropReason = "handler_retry"     // the handler returned ErrRetry
)

var dropReasons = []DropReason{
	DropReadError, DropIdleTimeout, DropTooBig, DropTextFrame, DropBadFrame, DropOutOfOrder,
	DropConsumerTooSlow, DropFutureCursor, DropErrorFrame, DropHandlerRetry,
}

// SkipReason says why a well-formed frame was not given to the handler. It
// doubles as the reason label of conflux_consumer_skipped_frames_total.
type SkipReason string

// Skip reasons.
const (
	SkipUnknownType SkipReason = "unknown_type" // a message type we do not know (the spec says ignore)
	SkipInfo        SkipReason = "info"         // an #info frame (OutdatedCursor is also counted on its own)
	SkipRedelivered SkipReason = "redelivered"  // the cursor event repeated as a connection's first event
)

var skipReasons = []SkipReason{SkipUnknownType, SkipInfo, SkipRedelivered}

// Metrics are the consumer's Prometheus series. A nil *Metrics is a no-op.
type Metrics struct {
	events        prometheus.Counter
	bytes         prometheus.Counter
	lastSeq       prometheus.Gauge
	lagSeconds    prometheus.Gauge
	lagEvents     prometheus.Gauge
	rate          prometheus.Gauge
	dials         *prometheus.CounterVec
	disconnects   *prometheus.CounterVec
	skipped       *prometheus.CounterVec
	outdated      prometheus.Counter
	batchEvents   prometheus.Histogram
	commitSeconds prometheus.Histogram
}

// NewMetrics creates the conflux_consumer_* series and registers them with
// reg (if non-nil). Registering twice on one registry panics, as
// prometheus.MustRegister does; a process with several consumers wraps reg
// with a constant label per consumer (prometheus.WrapRegistererWith).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_consumer_events_total",
			Help: "Events processed (handler returned nil; durable: committed).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_consumer_received_bytes_total",
			Help: "WebSocket message bytes received.",
		}),
		lastSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_consumer_last_seq",
			Help: "Seq of the last processed event (the resume cursor).",
		}),
		lagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_consumer_lag_seconds",
			Help: "Processing time minus the time field of the last processed event.",
		}),
		lagEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_consumer_lag_events",
			Help: "Upstream head seq minus the last processed seq (needs HeadFunc).",
		}),
		rate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_consumer_events_per_second",
			Help: "Events processed per second over the last progress interval.",
		}),
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_consumer_dials_total",
			Help: "Connection attempts by result (ok, error).",
		}, []string{"result"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_consumer_disconnects_total",
			Help: "Connections ended, by reason.",
		}, []string{"reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_consumer_skipped_frames_total",
			Help: "Well-formed frames not given to the handler, by reason.",
		}, []string{"reason"}),
		outdated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_consumer_outdated_cursor_total",
			Help: "#info OutdatedCursor frames received (events may have been missed).",
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "conflux_consumer_batch_events",
			Help:    "Events per durable batch commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 6),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "conflux_consumer_commit_seconds",
			Help:    "Latency of one durable batch commit (Pebble write and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
	}
	// Create every labelled child up front so each series exists (at 0)
	// from the start and a rate() over it has a baseline.
	for _, r := range []string{"ok", "error"} {
		m.dials.WithLabelValues(r)
	}
	for _, r := range dropReasons {
		m.disconnects.WithLabelValues(string(r))
	}
	for _, r := range skipReasons {
		m.skipped.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(m.events, m.bytes, m.lastSeq, m.lagSeconds, m.lagEvents, m.rate,
			m.dials, m.disconnects, m.skipped, m.outdated, m.batchEvents, m.commitSeconds)
	}
	return m
}

// processed records n events ending at seq, lag behind their event time.
func (m *Metrics) processed(n int, seq int64, lag time.Duration, haveLag bool) {
	if m == nil {
		return
	}
	m.events.Add(float64(n))
	m.lastSeq.Set(float64(seq))
	if haveLag {
		m.lagSeconds.Set(lag.Seconds())
	}
}

func (m *Metrics) received(n int) {
	if m == nil {
		return
	}
	m.bytes.Add(float64(n))
}

func (m *Metrics) dial(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.dials.WithLabelValues("ok").Inc()
	} else {
		m.dials.WithLabelValues("error").Inc()
	}
}

func (m *Metrics) drop(r DropReason) {
	if m == nil {
		return
	}
	m.disconnects.WithLabelValues(string(r)).Inc()
}

func (m *Metrics) skip(r SkipReason) {
	if m == nil {
		return
	}
	m.skipped.WithLabelValues(string(r)).Inc()
}

func (m *Metrics) outdatedCursor() {
	if m == nil {
		return
	}
	m.outdated.Inc()
}

func (m *Metrics) commit(events int, took time.Duration) {
	if m == nil {
		return
	}
	m.batchEvents.Observe(float64(events))
	m.commitSeconds.Observe(took.Seconds())
}

func (m *Metrics) progress(eventsPerSecond float64, behind int64, haveBehind bool) {
	if m == nil {
		return
	}
	m.rate.Set(eventsPerSecond)
	if haveBehind {
		m.lagEvents.Set(float64(behind))
	}
}
