package synth

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// errReason says why an action failed. It doubles as the reason label of
// conflux_synth_errors_total.
type errReason uint8

const (
	reasonHost     errReason = iota // the host refused or failed the write or upload
	reasonNotFound                  // update or delete of a record the host did not have
	reasonMismatch                  // the host's URI or CID differs from the computed one
	numReasons
)

var reasonNames = [numReasons]string{
	reasonHost:     "host",
	reasonNotFound: "not_found",
	reasonMismatch: "mismatch",
}

func (r errReason) String() string { return reasonNames[r] }

// Metrics are the driver's Prometheus series. A nil *Metrics is a no-op.
type Metrics struct {
	writes    [numKinds]prometheus.Counter
	errors    [numReasons]prometheus.Counter
	blobs     prometheus.Counter
	blobBytes prometheus.Counter
	users     prometheus.Gauge
	latency   prometheus.Histogram
}

// NewMetrics creates the conflux_synth_* series and registers them with reg
// (if non-nil). Registering twice on one registry panics, as
// prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		blobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_synth_blobs_uploaded_total",
			Help: "Blobs (images) the synthetic driver uploaded.",
		}),
		blobBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_synth_blob_bytes_total",
			Help: "Bytes of blobs the synthetic driver uploaded.",
		}),
		users: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_synth_users",
			Help: "Synthetic users the driver is acting as.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "conflux_synth_write_duration_seconds",
			Help:    "Time from starting an action (blob uploads included) to the host's answer.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	writes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conflux_synth_writes_total",
		Help: "Actions (one commit each) the synthetic driver applied, by kind.",
	}, []string{"kind"})
	for k := range numKinds {
		m.writes[k] = writes.WithLabelValues(k.String())
	}
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conflux_synth_errors_total",
		Help: "Actions that failed, by reason (not_found is a race with the driver's model).",
	}, []string{"reason"})
	for r := range numReasons {
		m.errors[r] = errs.WithLabelValues(r.String())
	}
	if reg != nil {
		reg.MustRegister(writes, errs, m.blobs, m.blobBytes, m.users, m.latency)
	}
	return m
}

func (m *Metrics) applied(k Kind, took time.Duration) {
	if m != nil {
		m.writes[k].Inc()
		m.latency.Observe(took.Seconds())
	}
}

func (m *Metrics) failed(r errReason) {
	if m != nil {
		m.errors[r].Inc()
	}
}

func (m *Metrics) uploaded(size int) {
	if m != nil {
		m.blobs.Inc()
		m.blobBytes.Add(float64(size))
	}
}

func (m *Metrics) setUsers(n int) {
	if m != nil {
		m.users.Set(float64(n))
	}
}
