package eventlog

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the log's Prometheus series. A nil *Metrics is a no-op.
type Metrics struct {
	appends       prometheus.Counter
	appendBytes   prometheus.Counter
	batchEvents   prometheus.Histogram
	commitSeconds prometheus.Histogram
	headSeq       prometheus.Gauge
	oldestSeq     prometheus.Gauge
	storedEvents  prometheus.Gauge
	storedBytes   prometheus.Gauge
	trimmed       prometheus.Counter
}

// NewMetrics creates the conflux_eventlog_* series and registers them with
// reg (if non-nil). Registering twice on one registry panics, as
// prometheus.MustRegister does; a process with several logs wraps reg with a
// constant label per log (prometheus.WrapRegistererWith).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_eventlog_appends_total",
			Help: "Events appended (durable).",
		}),
		appendBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_eventlog_append_bytes_total",
			Help: "Frame bytes appended (durable).",
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "conflux_eventlog_batch_events",
			Help:    "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "conflux_eventlog_commit_seconds",
			Help:    "Latency of one group commit (Pebble write and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
		headSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_eventlog_head_seq",
			Help: "Last durable seq.",
		}),
		oldestSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_eventlog_oldest_seq",
			Help: "Oldest retained seq (head+1 when empty).",
		}),
		storedEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_eventlog_stored_events",
			Help: "Events retained.",
		}),
		storedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_eventlog_stored_bytes",
			Help: "Frame bytes retained.",
		}),
		trimmed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_eventlog_trimmed_events_total",
			Help: "Events removed by retention.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.appends, m.appendBytes, m.batchEvents, m.commitSeconds,
			m.headSeq, m.oldestSeq, m.storedEvents, m.storedBytes, m.trimmed)
	}
	return m
}

func (m *Metrics) observeCommit(events int, bytes int64, took time.Duration) {
	if m == nil {
		return
	}
	m.appends.Add(float64(events))
	m.appendBytes.Add(float64(bytes))
	m.batchEvents.Observe(float64(events))
	m.commitSeconds.Observe(took.Seconds())
}

func (m *Metrics) observeTrim(events int64) {
	if m == nil {
		return
	}
	m.trimmed.Add(float64(events))
}

// setState publishes the gauges from one consistent view of the log.
func (m *Metrics) setState(s Stats) {
	if m == nil {
		return
	}
	m.headSeq.Set(float64(s.Head))
	m.oldestSeq.Set(float64(s.Oldest))
	m.storedEvents.Set(float64(s.Events))
	m.storedBytes.Set(float64(s.Bytes))
}
