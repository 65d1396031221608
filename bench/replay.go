package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
	"github.com/conflux-atproto/conflux/firehose/subscribe"
)

// ReplayConfig configures Replay. Zero values mean the defaults.
type ReplayConfig struct {
	Common
	Events int // retained events, default 200,000
	// Timeout bounds each replay (default 20 s).
	Timeout time.Duration
}

func (c ReplayConfig) withDefaults() ReplayConfig {
	setDefault(&c.Events, 200_000)
	setDefault(&c.Timeout, 20*time.Second)
	return c
}

// ReplayResult is what Replay measured: one replay served from the
// in-memory tail of recent frames, one from Pebble after a reopen.
type ReplayResult struct {
	Bound       Bound     `json:"bound"`
	Events      int64     `json:"events"`
	LogBytes    int64     `json:"logBytes"`
	FillSeconds float64   `json:"fillSeconds"`
	Tail        replayRun `json:"fromTail"`
	Pebble      replayRun `json:"fromPebble"`
}

type replayRun struct {
	Received     int64   `json:"received"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"eventsPerSecond"`
	MBPerSec     float64 `json:"megabytesPerSecond"`
	TailEvents   int     `json:"tailEvents"`
}

// Table implements Result.
func (r *ReplayResult) Table() Table {
	t := Table{Title: "replay"}
	t.add("signature bound", "%s", r.Bound)
	t.add("retained log", "%d events, %.0f MB (filled in %.1f s)", r.Events, float64(r.LogBytes)/1e6, r.FillSeconds)
	for _, x := range []struct {
		name string
		run  replayRun
	}{{"from the in-memory tail", r.Tail}, {"from Pebble (after reopen)", r.Pebble}} {
		t.add(x.name, "%d events in %.3f s = %.0f events/s, %.0f MB/s (%d events were in the tail)",
			x.run.Received, x.run.Seconds, x.run.EventsPerSec, x.run.MBPerSec, x.run.TailEvents)
	}
	t.note("the log holds real #commit frames recorded from a host's firehose, appended with the relay's components (firehose/eventlog, served by firehose/subscribe as the relay serves them), in Pebble in a temporary directory")
	t.note("one WebSocket subscriber in this process asks for cursor=0 and reads every frame (peeking its seq) until the head")
	t.note("verification does not apply to replay (frames are served as stored), so there is no ratio to the bound")
	return t
}

// commitEntry appends a copy of a recorded commit with a new seq.
type commitEntry struct{ c *firehose.Commit }

func (e commitEntry) Frame(seq int64, now time.Time) ([]byte, error) {
	c := *e.c
	c.Time = ""
	return c.Frame(seq, now)
}

// Replay measures one subscriber replaying a retained log from cursor 0.
func Replay(ctx context.Context, cfg ReplayConfig) (*ReplayResult, error) {
	cfg = cfg.withDefaults()
	p := cfg.Progress
	res := &ReplayResult{}
	cl, err := begin(ctx, cfg.Common, &res.Bound)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	p.Phase("recording real commits")
	commits, err := recordCommits(ctx, cl, 500)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cl.dir, "replay-log")
	p.Phase("filling the log")
	start := time.Now()
	if res.LogBytes, err = fillLog(ctx, dir, commits, cfg.Events, p); err != nil {
		return nil, err
	}
	res.Events = int64(cfg.Events)
	res.FillSeconds = time.Since(start).Seconds()
	// Pebble first: the tail run appends a second copy of the log.
	for i, run := range []*replayRun{&res.Pebble, &res.Tail} {
		p.Phase([]string{"replay from Pebble", "replay from the tail"}[i])
		if err := replayOnce(ctx, cl, dir, i == 1, res.LogBytes, commits, cfg, run); err != nil {
			return nil, err
		}
		run.MBPerSec = float64(res.LogBytes) / 1e6 / run.Seconds * float64(run.Received) / float64(res.Events)
	}
	p.Done()
	return res, nil
}

// recordCommits writes n posts on a new host and returns its #commit
// events as the host's firehose carried them.
func recordCommits(ctx context.Context, cl *cluster, n int) ([]*firehose.Commit, error) {
	h, err := cl.addHost("rec", true)
	if err != nil {
		return nil, err
	}
	dids, err := h.createAccounts(ctx, 20, 4, nil)
	if err != nil {
		return nil, err
	}
	var done atomicCounter
	if err := writePosts(ctx, h, dids, n/len(dids), 4, &done.n); err != nil {
		return nil, err
	}
	head, err := headOf(ctx, h, dids[0])
	if err != nil {
		return nil, err
	}
	var out []*firehose.Commit
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := consumer.New(consumer.Config{URL: wsURL(h.url), Cursor: 0,
		Handler: consumer.HandlerFunc(func(_ context.Context, ev consumer.Event) error {
			if m, ok := ev.Frame.Msg.(*firehose.Commit); ok {
				out = append(out, m)
			}
			if ev.Seq >= head {
				cancel()
			}
			return nil
		})})
	if err != nil {
		return nil, err
	}
	if err := c.Run(rctx); err != nil {
		return nil, fmt.Errorf("bench: record commits: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: recorded no commits")
	}
	return out, nil
}

// fillLog appends n copies of commits (cycling) to a new log in dir and
// returns the frame bytes stored.
func fillLog(ctx context.Context, dir string, commits []*firehose.Commit, n int, p *Progress) (int64, error) {
	l, err := eventlog.Open(eventlog.Config{Dir: dir, NoSync: true})
	if err != nil {
		return 0, fmt.Errorf("bench: open log: %w", err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(lctx) }()
	var bytes int64
	const batch = 1000
	for i := 0; i < n && err == nil; i += batch {
		es := make([]eventlog.Entry, 0, batch)
		for j := i; j < min(n, i+batch); j++ {
			es = append(es, commitEntry{commits[j%len(commits)]})
		}
		var evs []eventlog.Event
		if evs, err = l.AppendBatch(ctx, es); err == nil {
			for _, ev := range evs {
				bytes += int64(len(ev.Frame))
			}
		}
		p.Set(int64(i+len(es)), int64(n), "events")
	}
	stop()
	err = firstErr(err, <-done, l.Close())
	if err != nil {
		return 0, fmt.Errorf("bench: fill log: %w", err)
	}
	return bytes, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// replayOnce opens the log in dir (refilling the tail first if tail is
// set), serves it and reads it all from cursor 0 with one subscriber.
func replayOnce(ctx context.Context, cl *cluster, dir string, tail bool, logBytes int64, commits []*firehose.Commit, cfg ReplayConfig, run *replayRun) error {
	// Room in the tail for a second copy of the log, with per-event overhead.
	l, err := eventlog.Open(eventlog.Config{Dir: dir, NoSync: true, TailBytes: 2*logBytes + 64<<20})
	if err != nil {
		return fmt.Errorf("bench: open log: %w", err)
	}
	sub, err := subscribe.New(subscribe.Config{MaxConnsPerIP: -1}, l)
	if err != nil {
		l.Close()
		return fmt.Errorf("bench: subscribe server: %w", err)
	}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	logDone, subDone := make(chan error, 1), make(chan error, 1)
	go func() { logDone <- l.Run(lctx) }()
	go func() { subDone <- sub.Run(lctx) }()
	defer func() {
		stop()
		<-subDone
		<-logDone
		sub.Close()
		l.Close()
	}()
	head := l.Head()
	if tail {
		// A reopened log serves from Pebble; the tail holds what this
		// process appended. Rewrite the whole log's worth into the tail by
		// appending it again, then replay only those events.
		start := head
		if _, err := appendCopies(ctx, l, commits, cfg.Events); err != nil {
			return err
		}
		head = l.Head()
		run.TailEvents = l.Stats().TailEvents
		return readAll(ctx, cl, sub, start, head, cfg, run)
	}
	run.TailEvents = l.Stats().TailEvents
	return readAll(ctx, cl, sub, 0, head, cfg, run)
}

func appendCopies(ctx context.Context, l *eventlog.Log, commits []*firehose.Commit, n int) (int64, error) {
	const batch = 1000
	for i := 0; i < n; i += batch {
		es := make([]eventlog.Entry, 0, batch)
		for j := i; j < min(n, i+batch); j++ {
			es = append(es, commitEntry{commits[j%len(commits)]})
		}
		if _, err := l.AppendBatch(ctx, es); err != nil {
			return 0, fmt.Errorf("bench: append: %w", err)
		}
	}
	return l.Head(), nil
}

// readAll serves sub and reads from cursor to head with one client.
func readAll(ctx context.Context, cl *cluster, sub *subscribe.Server, cursor, head int64, cfg ReplayConfig, run *replayRun) error {
	u, err := cl.serve("replay", sub)
	if err != nil {
		return err
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, fmt.Sprintf("%s/xrpc/com.atproto.sync.subscribeRepos?cursor=%d", wsURL(u), cursor), nil)
	if err != nil {
		return fmt.Errorf("bench: replay subscribe: %w", err)
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(cfg.Timeout))
	total := head - cursor
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("bench: replay read after %d events: %w", run.Received, err)
		}
		seq, ok, _ := firehose.PeekSeq(msg)
		if !ok {
			continue
		}
		run.Received++
		if run.Received%4096 == 0 {
			cfg.Progress.Set(run.Received, total, "events")
		}
		if seq >= head {
			break
		}
	}
	run.Seconds = time.Since(start).Seconds()
	run.EventsPerSec = float64(run.Received) / run.Seconds
	return nil
}
