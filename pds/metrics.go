package pds

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/repo"
)

// metrics are the conflux_pds_* series. A nil *metrics is never used: when
// no registry is configured the series exist but are not registered.
type metrics struct {
	writes       *prometheus.CounterVec // by result
	writeSeconds prometheus.Histogram
	storeSeconds prometheus.Histogram
	opsTotal     *prometheus.CounterVec // by action
	accounts     prometheus.Gauge
	recovered    prometheus.Counter
	xrpc         *prometheus.CounterVec // by method (bounded: the routes) and status
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_pds_writes_total",
			Help: "ApplyWrites calls by result (ok, or the error kind).",
		}, []string{"result"}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "conflux_pds_write_seconds",
			Help:    "Latency of a successful write, from call to sequenced event.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2.5, 12),
		}),
		storeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "conflux_pds_store_commit_seconds",
			Help:    "Latency of the repo store batch commit (with fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
		opsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_pds_record_ops_total",
			Help: "Record ops committed, by action.",
		}, []string{"action"}),
		accounts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "conflux_pds_accounts_created",
			Help: "Accounts created minus accounts deleted by this process.",
		}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conflux_pds_recovered_events_total",
			Help: "Events of writes stored before a crash and announced at startup.",
		}),
		xrpc: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_pds_xrpc_requests_total",
			Help: "XRPC requests by method and HTTP status.",
		}, []string{"method", "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.writes, m.writeSeconds, m.storeSeconds, m.opsTotal, m.accounts, m.recovered, m.xrpc)
	}
	return m
}

func (m *metrics) observeWrite(n int, took time.Duration, err error) {
	if err != nil {
		m.writes.WithLabelValues(errorKind(err)).Inc()
		return
	}
	m.writes.WithLabelValues("ok").Inc()
	m.writeSeconds.Observe(took.Seconds())
}

func (m *metrics) observeStoreCommit(took time.Duration) { m.storeSeconds.Observe(took.Seconds()) }

func (m *metrics) ops(ops []repo.Op) {
	for _, op := range ops {
		m.opsTotal.WithLabelValues(string(op.Action)).Inc()
	}
}

// errorKind is a bounded label for a write error.
func errorKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{ErrInvalidRecord, "invalid_record"},
		{ErrInvalidRequest, "invalid_request"},
		{ErrInvalidSwap, "invalid_swap"},
		{ErrRepoNotFound, "repo_not_found"},
		{ErrRecordNotFound, "record_not_found"},
		{ErrBlobNotFound, "blob_not_found"},
		{ErrRepoDeactivated, "deactivated"},
		{ErrRepoTakendown, "takendown"},
		{ErrNotRunning, "not_running"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "internal"
}
