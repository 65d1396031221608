package relay

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/relay/internal/verify"
)

// Metrics are the relay's own Prometheus series (the event log, subscribe
// server and consumers export theirs). A nil *Metrics is a no-op.
type Metrics struct {
	eventsIn *prometheus.CounterVec
	drops    *prometheus.CounterVec
	warnings *prometheus.CounterVec
	verify   prometheus.Histogram
	headSeq  prometheus.Gauge
	stops    *prometheus.CounterVec
	waits    *prometheus.CounterVec
}

// NewMetrics creates the conflux_relay_* series and registers them with reg
// (if non-nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		eventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_relay_events_in_total", Help: "Upstream events received, by host and type.",
		}, []string{"host", "type"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_relay_drops_total", Help: "Upstream events dropped, by reason.",
		}, []string{"reason"}),
		warnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_relay_warnings_total", Help: "Events passed with a counted warning, by reason.",
		}, []string{"reason"}),
		verify: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "conflux_relay_verify_seconds", Help: "Time to verify one #commit.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14),
		}),
		headSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_relay_head_seq", Help: "Last seq the relay emitted.",
		}),
		stops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_relay_host_stops_total", Help: "Host ingesters that stopped, by reason (gave_up, future_cursor, relay_loop, processing, setup_failure).",
		}, []string{"reason"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_relay_rate_limit_waits_total", Help: "Times a host's stream was held back by its rate limit, by window (second, hour, day).",
		}, []string{"window"}),
	}
	if reg != nil {
		reg.MustRegister(m.eventsIn, m.drops, m.warnings, m.verify, m.headSeq, m.stops, m.waits)
	}
	return m
}

func (m *Metrics) eventIn(host, typ string) {
	if m != nil {
		m.eventsIn.WithLabelValues(host, typ).Inc()
	}
}

func (m *Metrics) drop(r verify.Reason) {
	if m != nil {
		m.drops.WithLabelValues(string(r)).Inc()
	}
}

func (m *Metrics) warn(r verify.Reason) {
	if m != nil {
		m.warnings.WithLabelValues(string(r)).Inc()
	}
}

func (m *Metrics) verified(seconds float64) {
	if m != nil {
		m.verify.Observe(seconds)
	}
}

func (m *Metrics) head(seq int64) {
	if m != nil {
		m.headSeq.Set(float64(seq))
	}
}

func (m *Metrics) hostStop(reason string) {
	if m != nil {
		m.stops.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) rateWait(window string) {
	if m != nil {
		m.waits.WithLabelValues(window).Inc()
	}
}
