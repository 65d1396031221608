package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose/consumer"
)

// Every scenario runs at a tiny size, so that none can rot; each asserts
// that its result is sane (counts add up, latencies are positive). No
// assertion is about speed.

const tinyBound = 100 * time.Millisecond

func tinyCommon(t *testing.T) Common {
	return Common{Dir: t.TempDir(), BoundDuration: tinyBound}
}

func checkBound(t *testing.T, b Bound) {
	t.Helper()
	if b.Cores < 1 || b.PerSecond <= 0 || b.PerCore <= 0 {
		t.Errorf("bound %+v", b)
	}
}

func checkLatency(t *testing.T, name string, l Latency, n int) {
	t.Helper()
	if l.N != n || l.P50ms <= 0 || l.P50ms > l.P90ms || l.P90ms > l.P99ms || l.P99ms > l.MaxMs {
		t.Errorf("%s latency %+v, want %d ordered positive samples", name, l, n)
	}
}

func TestRelayIngest(t *testing.T) {
	t.Parallel()
	r, err := RelayIngest(t.Context(), RelayIngestConfig{Common: tinyCommon(t), Hosts: 2, Accounts: 3, Commits: 2, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	checkBound(t, r.Bound)
	if r.TimedOut || r.Ingested != r.Sent || len(r.Drops) != 0 {
		t.Fatalf("sent %d, ingested %d, drops %v, timed out %v", r.Sent, r.Ingested, r.Drops, r.TimedOut)
	}
	// Per account: its creation (#identity, #account, genesis #commit)
	// and two posts; one marker per host.
	if want := int64(2*3*(3+2) + 2); r.Sent != want {
		t.Errorf("sent %d events, want %d", r.Sent, want)
	}
	if r.CommitEvents != 2*3*3+2 || r.EventsPerSec <= 0 || r.Ratio <= 0 || r.Cores <= 0 {
		t.Errorf("result %+v", r)
	}
	if tb := r.Table(); len(tb.Rows) == 0 {
		t.Error("empty table")
	}
}

func TestFanout(t *testing.T) {
	t.Parallel()
	r, err := Fanout(t.Context(), FanoutConfig{Common: tinyCommon(t), Subscribers: 3, Rate: 50, Hosts: 1, Users: 3,
		Duration: 1500 * time.Millisecond, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	checkBound(t, r.Bound)
	if r.Events == 0 || r.Disconnected != 0 {
		t.Fatalf("events %d, disconnected %d", r.Events, r.Disconnected)
	}
	if r.Delivered != r.Events*3 {
		t.Errorf("delivered %d frames of %d events to 3 subscribers", r.Delivered, r.Events)
	}
	checkLatency(t, "delivery", r.Latency, int(r.Delivered))
}

func TestReplay(t *testing.T) {
	t.Parallel()
	r, err := Replay(t.Context(), ReplayConfig{Common: tinyCommon(t), Events: 3000})
	if err != nil {
		t.Fatal(err)
	}
	checkBound(t, r.Bound)
	if r.Events != 3000 || r.LogBytes <= 0 {
		t.Fatalf("log of %d events, %d bytes", r.Events, r.LogBytes)
	}
	for name, run := range map[string]replayRun{"pebble": r.Pebble, "tail": r.Tail} {
		if run.Received != 3000 || run.EventsPerSec <= 0 {
			t.Errorf("%s: %+v, want 3000 events", name, run)
		}
	}
	if r.Pebble.TailEvents != 0 || r.Tail.TailEvents < 3000 {
		t.Errorf("tail events: pebble run %d, tail run %d", r.Pebble.TailEvents, r.Tail.TailEvents)
	}
}

func TestAppviewIndex(t *testing.T) {
	t.Parallel()
	r, err := AppviewIndex(t.Context(), AppviewIndexConfig{Common: tinyCommon(t), Users: 5, Writes: 150})
	if err != nil {
		t.Fatal(err)
	}
	checkBound(t, r.Bound)
	if r.Events < 150 {
		t.Fatalf("recorded %d events, want at least the 150 writes", r.Events)
	}
	for name, run := range map[string]indexRun{"off": r.Off, "on": r.On} {
		if run.TimedOut || run.Indexed != r.Events || run.EventsPerSec <= 0 {
			t.Errorf("verification %s: %+v, want %d events indexed", name, run, r.Events)
		}
	}
	if r.RatioOn <= 0 {
		t.Errorf("ratio %v", r.RatioOn)
	}
}

func TestFeedServe(t *testing.T) {
	t.Parallel()
	r, err := FeedServe(t.Context(), FeedServeConfig{Common: tinyCommon(t), Posts: 600, Clients: 4,
		Duration: 300 * time.Millisecond, Period: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkBound(t, r.Bound)
	for name, run := range map[string]serveRun{"closed": r.ClosedLoop, "paced": r.Paced} {
		if run.Requests == 0 || run.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors", name, run.Requests, run.Errors)
		}
		checkLatency(t, name, run.Latency, int(run.Requests))
	}
	// 4 clients, one request per 20 ms each, for 300 ms: about 60.
	if r.Paced.Requests > 80 {
		t.Errorf("paced clients made %d requests, want at most about 60", r.Paced.Requests)
	}
}

func TestE2E(t *testing.T) {
	t.Parallel()
	r, err := E2E(t.Context(), E2EConfig{Common: tinyCommon(t), Rate: 40, Hosts: 1, Users: 3, Probes: 5,
		Interval: 10 * time.Millisecond, Warmup: 100 * time.Millisecond, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	checkBound(t, r.Bound)
	if r.Probes != 5 || r.Lost != 0 || r.ConfirmLate != 0 {
		t.Fatalf("probes %d, lost %d, confirmed late %d", r.Probes, r.Lost, r.ConfirmLate)
	}
	for name, l := range map[string]Latency{"commit": r.Commit, "host firehose": r.HostFirehose, "relay": r.Relay,
		"appview": r.Appview, "feed": r.Feed, "both": r.Both} {
		checkLatency(t, name, l, 5)
	}
	if len(r.Hops) != 5 || r.Hops[0].Latency != r.Commit {
		t.Errorf("hops %+v", r.Hops)
	}
	for _, h := range r.Hops {
		if h.Latency.N != 5 {
			t.Errorf("hop %s has %d samples", h.Name, h.Latency.N)
		}
	}
	if r.Both.MaxMs < r.Appview.MaxMs || r.Both.MaxMs < r.Feed.MaxMs || r.AchievedRate <= 0 {
		t.Errorf("both %+v, appview %+v, feed %+v, rate %v", r.Both, r.Appview, r.Feed, r.AchievedRate)
	}
}

// A waiter that learns its seq after the commit covering it still gets
// that commit's time; a later seq waits for a later commit.
func TestWatermark(t *testing.T) {
	t.Parallel()
	w := newWatermark()
	w.observe(3, consumer.Event{Seq: 10})
	first, ok := w.visible(7)
	if !ok || w.head() != 10 {
		t.Fatalf("seq 7 not visible after a commit up to 10 (head %d)", w.head())
	}
	if _, ok := w.visible(11); ok {
		t.Fatal("seq 11 visible before its commit")
	}
	go w.observe(5, consumer.Event{Seq: 15})
	at, err := w.wait(t.Context(), 11)
	if err != nil || !at.After(first) && !at.Equal(first) {
		t.Fatalf("wait: %v at %v (first commit %v)", err, at, first)
	}
	if again, _ := w.visible(7); !again.Equal(first) {
		t.Errorf("seq 7 moved from %v to %v", first, again)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := summarize(ds)
	if ds[0] != 100*time.Millisecond {
		t.Error("summarize reordered its input")
	}
	if l.N != 100 || l.P50ms != 50 || l.P90ms != 90 || l.P99ms != 99 || l.MaxMs != 100 {
		t.Errorf("summarize 1..100 ms = %+v", l)
	}
	if (summarize(nil) != Latency{}) {
		t.Error("summary of nothing is not zero")
	}
	if l := summarize([]time.Duration{time.Millisecond}); l.P99ms != 1 || l.P50ms != 1 {
		t.Errorf("one sample: %+v", l)
	}
}

func TestProgressNil(t *testing.T) {
	t.Parallel()
	var p *Progress // a nil Progress draws nothing and does not panic
	p.Phase("x")
	p.Set(1, 2, "")
	p.Done()
	if NewProgress(nil) != nil {
		t.Error("NewProgress(nil) is not nil")
	}
}

func TestProgressDraws(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	p := NewProgress(&b)
	p.Phase("filling")
	p.Set(5, 10, "events")  // within 100 ms of the last draw: skipped
	p.Set(10, 10, "events") // the last update is always drawn
	p.Done()
	out := b.String()
	if strings.Contains(out, "50%") {
		t.Errorf("progress redrawn within 100 ms: %q", out)
	}
	for _, want := range []string{"filling", "[" + strings.Repeat("#", barWidth) + "] 100% events"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q: %q", want, out)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("Done did not end the line: %q", out)
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	tb := Table{Title: "x", Rows: []Row{{"metric", "1 ms"}}, Notes: []string{"how"}}
	if err := WriteTable(&b, tb); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "metric  1 ms") || !strings.Contains(got, "* how") {
		t.Errorf("table %q", got)
	}
}
