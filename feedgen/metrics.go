package feedgen

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the generator's Prometheus series. A nil *Metrics is a no-op.
// Labels are bounded: feed names (configured) and drop reasons (an enum).
type Metrics struct {
	indexed  *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	lag      *prometheus.GaugeVec
	requests *prometheus.CounterVec
	builds   *prometheus.CounterVec
	buildDur *prometheus.HistogramVec
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		indexed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_feedgen_posts_indexed_total", Help: "Posts added to a feed.",
		}, []string{"feed"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_feedgen_ops_dropped_total", Help: "Post ops not indexed, by reason.",
		}, []string{"reason"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "conflux_feedgen_lag_seconds", Help: "Processing time minus the event time of the last post each feed saw.",
		}, []string{"feed"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_feedgen_skeleton_requests_total", Help: "getFeedSkeleton requests by feed (unknown feeds as \"\").",
		}, []string{"feed"}),
	}
	m.builds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conflux_feedgen_view_builds_total", Help: "In-memory feed views built: heads of newest-first feeds after a change, rankings of ranked feeds.",
	}, []string{"feed", "kind"})
	m.buildDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "conflux_feedgen_view_build_seconds", Help: "Time to build an in-memory feed view.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
	}, []string{"kind"})
	for _, c := range []prometheus.Collector{m.indexed, m.dropped, m.lag, m.requests, m.builds, m.buildDur} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observePost(feed string, kept bool, at, now time.Time) {
	if m == nil {
		return
	}
	if kept {
		m.indexed.WithLabelValues(feed).Inc()
	}
	m.lag.WithLabelValues(feed).Set(now.Sub(at).Seconds())
}

func (m *Metrics) drop(r DropReason) {
	if m != nil {
		m.dropped.WithLabelValues(string(r)).Inc()
	}
}

func (m *Metrics) request(feed string) {
	if m != nil {
		m.requests.WithLabelValues(feed).Inc()
	}
}

// View kinds, the kind label of the view metrics.
const (
	viewHead    = "head"
	viewRanking = "ranking"
)

func (m *Metrics) viewBuilt(feed, kind string, took time.Duration) {
	if m != nil {
		m.builds.WithLabelValues(feed, kind).Inc()
		m.buildDur.WithLabelValues(kind).Observe(took.Seconds())
	}
}
