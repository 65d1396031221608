package subscribe

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

// BenchmarkFanout: one appender at a fixed rate (2,000 events/s) to 100
// subscribers on loopback. b.N is the number of events; run it with a fixed
// count, e.g. -benchtime=10000x. Reports delivered frames/s and the p50 and
// p99 latency from calling Append to a subscriber having read the frame.
func BenchmarkFanout(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("subs=100_rate=2000_fsync=%v", sync), func(b *testing.B) {
			benchFanout(b, 100, 2000, sync)
		})
	}
	b.Run("subs=1000_rate=2000_fsync=true", func(b *testing.B) {
		benchFanout(b, 1000, 2000, true)
	})
}

// cpuSeconds is the process's user plus system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// maxRSSMB is the process's peak resident set size.
func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // Linux reports kilobytes
}

func benchFanout(b *testing.B, subs, rate int, fsync bool) {
	l := startLog(b, eventlog.Config{NoSync: !fsync})
	ts := startServer(b, l, Config{MaxConnsPerIP: -1})
	n := b.N
	recv := make([][]int64, subs) // per subscriber, receipt time by seq
	var wg sync.WaitGroup
	for i := range subs {
		// Cursor 0 on an empty log: exactly seqs 1..n, with no doubt about
		// where a live start began.
		r := &reader{ws: mustDial(b, ts.url(cursorQuery(0)))}
		recv[i] = make([]int64, n+1)
		wg.Go(func() {
			for got := 0; got < n; got++ {
				fr, err := r.next()
				if err != nil {
					b.Errorf("subscriber: %v", err)
					return
				}
				seq, ok, err := firehose.PeekSeq(fr)
				if err != nil || !ok || seq < 1 || seq > int64(n) {
					b.Errorf("subscriber: frame seq %d %v %v", seq, ok, err)
					return
				}
				recv[i][seq] = time.Now().UnixNano()
			}
		})
	}
	waitFor(b, "subscribers", func() bool { return ts.Subscribers() == subs })

	sendAt := make([]int64, n+1) // Append call time by seq
	var mu sync.Mutex
	var appends sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuSeconds()
	interval := time.Second / time.Duration(rate)
	for k := range n {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			time.Sleep(d)
		}
		// Each append on its own goroutine, so a slow fsync lets appends
		// group rather than lowering the rate.
		appends.Go(func() {
			t0 := time.Now().UnixNano()
			ev, err := l.Append(context.Background(), identity(k))
			if err != nil {
				b.Errorf("Append: %v", err)
				return
			}
			mu.Lock()
			sendAt[ev.Seq] = t0
			mu.Unlock()
		})
	}
	appends.Wait()
	appendSecs := time.Since(start).Seconds()
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	b.StopTimer()

	lat := make([]int64, 0, subs*n)
	for _, rs := range recv {
		for seq := 1; seq <= n; seq++ {
			lat = append(lat, rs[seq]-sendAt[seq])
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(float64(n)/appendSecs, "appends/s")
	b.ReportMetric(float64(subs*n)/elapsed, "frames/s")
	// CPU and memory of the whole process: server and the in-process
	// subscribers' clients together.
	b.ReportMetric((cpuSeconds()-cpu0)/elapsed, "cpu-cores")
	b.ReportMetric(maxRSSMB(), "maxrss-MB")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// BenchmarkReplay: one subscriber replays 1M stored events from cursor 0
// (the first from Pebble, the rest from the in-memory tail), reported as
// events/s. Setup appends with NoSync.
func BenchmarkReplay(b *testing.B) {
	const total = 1_000_000
	l := startLog(b, eventlog.Config{NoSync: true})
	appendN(b, l, total, 1000, identity)
	ts := startServer(b, l, Config{})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		replayAll(b, ts, total)
	}
	b.ReportMetric(float64(total*b.N)/time.Since(start).Seconds(), "events/s")
}

func replayAll(b *testing.B, ts *testServer, total int64) {
	ws, resp, err := dial(context.Background(), ts.url(cursorQuery(0)), 0)
	if err != nil {
		b.Fatalf("dial: %v (%s)", err, describe(resp))
	}
	defer ws.Close()
	r := &reader{ws: ws}
	for want := int64(1); want <= total; want++ {
		fr, err := r.next()
		if err != nil {
			b.Fatalf("at seq %d: %v", want, err)
		}
		if seq, ok, err := firehose.PeekSeq(fr); err != nil || !ok || seq != want {
			b.Fatalf("got seq %d (%v, %v), want %d", seq, ok, err, want)
		}
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
}
