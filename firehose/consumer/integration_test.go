package consumer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
	"github.com/conflux-atproto/conflux/firehose/subscribe"
)

// The real stack: events appended to an eventlog while a durable consumer
// tails them through the subscribe server, which is shut down and replaced
// (on the same log) several times mid-stream. The consumer's index must end
// exactly as applying every event once, and the metrics must say so.
func TestAgainstSubscribeServer(t *testing.T) {
	t.Parallel()
	const (
		n        = 3000
		restarts = 5
		name     = "integration"
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	lg, err := eventlog.Open(eventlog.Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		if err := lg.Close(); err != nil {
			t.Error(err)
		}
	}()
	wg.Go(func() {
		if err := lg.Run(ctx); err != nil {
			t.Errorf("eventlog Run: %v", err)
		}
	})

	var current atomic.Pointer[subscribe.Server]
	newServer := func() *subscribe.Server {
		s, err := subscribe.New(subscribe.Config{}, lg)
		if err != nil {
			panic(err) // a zero Config and a non-nil log cannot fail
		}
		return s
	}
	current.Store(newServer())
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Load().ServeHTTP(w, r)
	}))
	defer ts.Close()
	defer func() { _ = current.Load().Close() }()

	// Appender: every event from one goroutine, so seq i is event i; the
	// server is replaced every n/restarts events.
	wg.Go(func() {
		for i := int64(1); i <= n; i++ {
			ev, err := lg.Append(ctx, &firehose.Identity{DID: didOf(i)})
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("append %d: %v", i, err)
				}
				return
			}
			if ev.Seq != i {
				t.Errorf("append %d got seq %d", i, ev.Seq)
				return
			}
			if i%(n/restarts) == 0 && i < n {
				old := current.Swap(newServer())
				sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
				_ = old.Shutdown(sctx)
				scancel()
			}
		}
	})

	db := openDB(t, t.TempDir(), nil)
	defer db.Close()
	reg := prometheus.NewRegistry()
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	cfg := durableConfig(ts.URL, db, name, &counterIndex{last: n, cancel: ccancel}, 0)
	cfg.Metrics = NewMetrics(reg)
	cfg.HeadFunc = func(context.Context) (int64, error) { return lg.Head(), nil }
	cfg.ProgressInterval = 5 * time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, cctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := diffStates(expectedState(name, n), dump(t, db)); diff != "[]" {
		t.Fatalf("index differs from one pass over 1..%d: %s", n, diff)
	}
	st := c.Stats()
	if st.Dials < 2 {
		t.Errorf("%d dials: the server restarts did not reach the consumer", st.Dials)
	}
	t.Logf("stats: %+v", st)

	m := gather(t, reg)
	for name, want := range map[string]float64{
		"conflux_consumer_events_total":                         n,
		"conflux_consumer_last_seq":                             n,
		"conflux_consumer_dials_total{result=ok}":               float64(st.Dials - st.DialErrors),
		"conflux_consumer_disconnects_total{reason=read_error}": float64(st.Drops[DropReadError]),
		"conflux_consumer_batch_events_count":                   -1, // present
		"conflux_consumer_lag_seconds":                          -1,
		"conflux_consumer_lag_events":                           -1,
		"conflux_consumer_events_per_second":                    -1,
	} {
		got, ok := m[name]
		if !ok {
			t.Errorf("metric %s missing", name)
		} else if want >= 0 && got != want {
			t.Errorf("metric %s = %v, want %v", name, got, want)
		}
	}
	if m["conflux_consumer_received_bytes_total"] <= 0 {
		t.Errorf("received bytes %v", m["conflux_consumer_received_bytes_total"])
	}
}

// gather flattens reg into name{label=value} -> value (counters, gauges and
// histogram counts as name_count).
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
