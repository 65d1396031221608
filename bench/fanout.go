package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
)

// FanoutConfig configures Fanout. Zero values mean the defaults.
type FanoutConfig struct {
	Common
	Subscribers int           // default 100
	Rate        float64       // commits/s written on the hosts, default 2,000
	Hosts       int           // default 2
	Users       int           // synthetic users per host, default 100
	Duration    time.Duration // measured window, default 10 s
	NoSync      bool          // hosts and relay without fsync
	// RelayWorkers is the relay's HostWorkers (0: its default).
	RelayWorkers int
}

func (c FanoutConfig) withDefaults() FanoutConfig {
	setDefault(&c.Subscribers, 100)
	setDefault(&c.Rate, 2000)
	setDefault(&c.Hosts, 2)
	setDefault(&c.Users, 100)
	setDefault(&c.Duration, 10*time.Second)
	return c
}

// FanoutResult is what Fanout measured.
type FanoutResult struct {
	Bound       Bound   `json:"bound"`
	Subscribers int     `json:"subscribers"`
	TargetRate  float64 `json:"targetRate"`
	Fsync       bool    `json:"fsync"`
	Seconds     float64 `json:"seconds"`
	// Events the relay emitted in the window, and frames delivered to all
	// subscribers in it (Events x Subscribers when everyone keeps up).
	Events          int64   `json:"events"`
	EventsPerSec    float64 `json:"eventsPerSecond"`
	Delivered       int64   `json:"framesDelivered"`
	DeliveredPerSec float64 `json:"framesPerSecond"`
	Disconnected    int64   `json:"subscribersDisconnected"`
	Latency         Latency `json:"latency"`
	Cores           float64 `json:"cpuCores"`
}

// Table implements Result.
func (r *FanoutResult) Table() Table {
	t := Table{Title: "fanout"}
	t.add("signature bound", "%s", r.Bound)
	t.add("subscribers", "%d (disconnected: %d)", r.Subscribers, r.Disconnected)
	t.add("relay events", "%d in %.1f s = %.0f events/s (target %.0f commits/s on the hosts)", r.Events, r.Seconds, r.EventsPerSec, r.TargetRate)
	t.add("delivered", "%d frames = %.0f frames/s", r.Delivered, r.DeliveredPerSec)
	t.add("latency host -> subscriber", "%s", r.Latency)
	t.add("CPU", "%.2f cores", r.Cores)
	t.note("latency runs from the event's time field (set when the host sequenced the commit, millisecond precision, so up to 1 ms high) to the subscriber reading the frame; it covers host broadcast, relay verification, the relay's log append (fsync %v) and fan-out", r.Fsync)
	t.note("subscribers are gorilla WebSocket clients in this process that read every message and peek its seq; one extra tap decodes each frame's time")
	return t
}

// Fanout measures the relay's fan-out to many live subscribers while hosts
// write at a rate.
func Fanout(ctx context.Context, cfg FanoutConfig) (*FanoutResult, error) {
	cfg = cfg.withDefaults()
	p := cfg.Progress
	res := &FanoutResult{Subscribers: cfg.Subscribers, TargetRate: cfg.Rate, Fsync: !cfg.NoSync}
	cl, err := begin(ctx, cfg.Common, &res.Bound)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	p.Phase("starting hosts and relay")
	hosts := make([]*host, cfg.Hosts)
	for i := range hosts {
		if hosts[i], err = cl.addHost(fmt.Sprintf("h%d", i), cfg.NoSync); err != nil {
			return nil, err
		}
	}
	r, relayURL, err := cl.startRelay(relayOptions{noSync: cfg.NoSync, workers: cfg.RelayWorkers})
	if err != nil {
		return nil, err
	}
	if err := addHosts(ctx, r, hosts); err != nil {
		return nil, err
	}

	// The tap learns each seq's event time; subscribers record only seqs.
	var times sync.Map // seq -> time.Time
	tap, err := consumer.New(consumer.Config{URL: wsURL(relayURL), Cursor: consumer.NoCursor,
		Handler: consumer.HandlerFunc(func(_ context.Context, ev consumer.Event) error {
			if t, ok := ev.Frame.Time(); ok {
				times.Store(ev.Seq, t)
			}
			return nil
		})})
	if err != nil {
		return nil, err
	}
	cl.run("tap", tap.Run, nil)

	p.Phase("creating synthetic users")
	if _, err := startLoad(ctx, cl, hosts, cfg.Users, cfg.Rate, nil); err != nil {
		return nil, err
	}
	p.Phase("connecting subscribers")
	subs := make([]*subscriber, cfg.Subscribers)
	for i := range subs {
		if subs[i], err = dialSubscriber(ctx, relayURL); err != nil {
			return nil, err
		}
		defer subs[i].conn.Close()
	}
	meter := startCPU()
	var measuring atomic.Bool
	var wg sync.WaitGroup
	var disconnected atomic.Int64
	var closing atomic.Bool
	for _, s := range subs {
		wg.Go(func() {
			_ = s.read(&measuring)
			if !closing.Load() {
				disconnected.Add(1)
			}
		})
	}
	// A second of warm-up: the relay is live and subscribers caught up.
	time.Sleep(time.Second)
	p.Phase("measuring fan-out")
	head0 := r.Head()
	measuring.Store(true)
	start := time.Now()
	for el := time.Duration(0); el < cfg.Duration; el = time.Since(start) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := cl.err(); err != nil {
			return nil, err
		}
		p.Set(int64(el/time.Millisecond), int64(cfg.Duration/time.Millisecond), fmt.Sprintf("relay seq %d", r.Head()))
		time.Sleep(50 * time.Millisecond)
	}
	head1 := r.Head()
	res.Seconds = time.Since(start).Seconds()
	// Give the last frames of the window a moment to arrive, then stop.
	time.Sleep(500 * time.Millisecond)
	measuring.Store(false)
	res.Cores = meter.cores()
	closing.Store(true)
	for _, s := range subs {
		_ = s.conn.Close()
	}
	wg.Wait()
	res.Disconnected = disconnected.Load()
	res.Events = head1 - head0
	res.EventsPerSec = float64(res.Events) / res.Seconds
	var lat []time.Duration
	for _, s := range subs {
		for _, rc := range s.got {
			if rc.seq <= head0 || rc.seq > head1 {
				continue
			}
			res.Delivered++
			if t, ok := times.Load(rc.seq); ok {
				lat = append(lat, rc.at.Sub(t.(time.Time)))
			}
		}
	}
	res.DeliveredPerSec = float64(res.Delivered) / res.Seconds
	res.Latency = summarize(lat)
	p.Done()
	return res, nil
}

type receipt struct {
	seq int64
	at  time.Time
}

// subscriber is one live subscribeRepos client.
type subscriber struct {
	conn *websocket.Conn
	got  []receipt
}

func dialSubscriber(ctx context.Context, relayURL string) (*subscriber, error) {
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL(relayURL)+"/xrpc/com.atproto.sync.subscribeRepos", nil)
	if err != nil {
		return nil, fmt.Errorf("bench: subscribe: %w", err)
	}
	return &subscriber{conn: conn, got: make([]receipt, 0, 1<<15)}, nil
}

// read records every frame's seq and arrival while measuring is set, until
// the connection ends.
func (s *subscriber) read(measuring *atomic.Bool) error {
	for {
		_, msg, err := s.conn.ReadMessage()
		if err != nil {
			return err
		}
		at := time.Now()
		if !measuring.Load() {
			continue
		}
		if seq, ok, _ := firehose.PeekSeq(msg); ok {
			s.got = append(s.got, receipt{seq, at})
		}
	}
}
