package relay

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// TestRelayLoopAtConnect: a host whose subscribeRepos handshake answers
// with a relay's Server header is refused at connect time (it was added
// without requestCrawl's describeServer check): banned with the relay_loop
// reason, its stream never read, and never dialled again.
func TestRelayLoopAtConnect(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "ws", true: "wss"}[tls], func(t *testing.T) {
			t.Parallel()
			testRelayLoopAtConnect(t, tls)
		})
	}
}

func testRelayLoopAtConnect(t *testing.T, useTLS bool) {
	a := newTestRepo(t, 31)
	f := frame(t, a.create(t), 1)
	var dials atomic.Int32
	up := websocket.Upgrader{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		dials.Add(1)
		conn, err := up.Upgrade(w, req, http.Header{"Server": {"some-relay/1.0 (atproto-relay)"}})
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.WriteMessage(websocket.BinaryMessage, f)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	})
	srv := httptest.NewUnstartedServer(handler)
	scheme := "ws://"
	if useTLS {
		srv.StartTLS()
		scheme = "wss://"
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	hostname := srv.Listener.Addr().String()
	reg := prometheus.NewRegistry()
	r := startRelay(t, Config{Identities: mapIDs{}, Registerer: reg, HTTPClient: srv.Client()})
	if err := r.AddHost(t.Context(), scheme+hostname, HostOptions{}); err != nil {
		t.Fatal(err)
	}
	var hs hostEntry
	waitFor(t, "host banned", func() bool {
		call(t, r.Handler(), "GET", "/xrpc/com.atproto.sync.getHostStatus?hostname="+hostname, "", false, &hs)
		return hs.Status == "banned"
	})
	if !strings.HasPrefix(hs.Reason, StopRelayLoop) {
		t.Errorf("reason %q, want %s", hs.Reason, StopRelayLoop)
	}
	waitFor(t, "ingester gone", func() bool { return r.ingester(hostname) == nil })
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1 (a banned host is not retried)", n)
	}
	if r.Head() != 0 {
		t.Errorf("head %d: the relay's stream was read", r.Head())
	}
	if got := counterValue(t, reg, "conflux_relay_host_stops_total", StopRelayLoop); got != 1 {
		t.Errorf("relay_loop stops %v, want 1", got)
	}
	// A ban holds: the host cannot be added back.
	if err := r.AddHost(t.Context(), scheme+hostname, HostOptions{}); !errors.Is(err, ErrHostBanned) {
		t.Errorf("re-adding a banned host: %v", err)
	}
}

// TestProcessingFailureRetries: while our own store fails, the host is
// offline with the processing reason (in getHostStatus and the metrics);
// once it works again the host is retried, goes back to active and every
// event is emitted, none lost.
func TestProcessingFailureRetries(t *testing.T) {
	t.Parallel()
	plc := newPLC(t)
	a := newTestRepo(t, 32)
	frames := [][]byte{frame(t, a.create(t), 1), frame(t, a.create(t), 2), frame(t, a.create(t), 3)}
	host := newFrameHost(t, frames)
	plc.set(a.did, "", a.key.Public().Multibase(), host.URL)
	reg := prometheus.NewRegistry()
	r := startRelay(t, Config{PLCURL: plc.URL, Registerer: reg})
	var failing atomic.Bool
	failing.Store(true)
	r.storeFault = func() error {
		if failing.Load() {
			return errors.New("injected: disk full")
		}
		return nil
	}
	if err := r.AddHost(t.Context(), "ws://"+host.hostname(), HostOptions{}); err != nil {
		t.Fatal(err)
	}
	var hs hostEntry
	waitFor(t, "host offline", func() bool {
		call(t, r.Handler(), "GET", "/xrpc/com.atproto.sync.getHostStatus?hostname="+host.hostname(), "", false, &hs)
		return hs.Status == "offline"
	})
	if !strings.HasPrefix(hs.Reason, StopProcessing) || !strings.Contains(hs.Reason, "disk full") {
		t.Errorf("reason %q", hs.Reason)
	}
	if got := counterValue(t, reg, "conflux_relay_host_stops_total", StopProcessing); got < 1 {
		t.Errorf("processing stops %v", got)
	}
	failing.Store(false)
	waitHostCursor(t, r, host.hostname(), 3)
	hs = hostEntry{}
	call(t, r.Handler(), "GET", "/xrpc/com.atproto.sync.getHostStatus?hostname="+host.hostname(), "", false, &hs)
	if hs.Status != "active" || hs.Reason != "" {
		t.Errorf("after recovery: %+v", hs)
	}
	if evs := emitted(t, r); len(evs) != 3 {
		t.Errorf("%d events emitted, want 3", len(evs))
	}
}

// counterValue reads the counter name{reason|window=label} from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestWSSHost: a host on wss:// is ingested through the loop guard's own
// TLS dial (the guard reads the handshake above TLS).
func TestWSSHost(t *testing.T) {
	t.Parallel()
	plc := newPLC(t)
	a := newTestRepo(t, 33)
	host := newFrameHostTLS(t, [][]byte{frame(t, a.create(t), 1), frame(t, a.create(t), 2)}, true)
	plc.set(a.did, "", a.key.Public().Multibase(), host.URL)
	client := host.Client()
	r := startRelay(t, Config{PLCURL: plc.URL, HTTPClient: client})
	if err := r.AddHost(t.Context(), "wss://"+host.hostname(), HostOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHostCursor(t, r, host.hostname(), 2)
	if evs := emitted(t, r); len(evs) != 2 {
		t.Errorf("%d events, want 2", len(evs))
	}
}

// TestDeliveryCPUKept: while anyone subscribes, one verification slot is
// kept for delivery (with more than one CPU); it is given back when the
// last subscriber leaves.
func TestDeliveryCPUKept(t *testing.T) {
	t.Parallel()
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one CPU: nothing to keep")
	}
	r := startRelay(t, Config{Identities: mapIDs{}})
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	kept := func() bool {
		r.consumers.mu.Lock()
		defer r.consumers.mu.Unlock()
		return r.deliveryCPU != nil
	}
	if kept() {
		t.Fatal("slot kept without subscribers")
	}
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/xrpc/com.atproto.sync.subscribeRepos", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "slot kept", kept)
	conn.Close()
	waitFor(t, "slot given back", func() bool { return !kept() })
}
