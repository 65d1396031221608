package consumer

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
)

// captureLog is a slog.Handler that keeps the records and signals the first
// one with a given message.
type captureLog struct {
	attrs []slog.Attr
	share *captureShared
}

type captureShared struct {
	mu      sync.Mutex
	records []map[string]any
	want    string
	seen    chan struct{}
	once    sync.Once
}

func newCaptureLog(want string) *captureLog {
	return &captureLog{share: &captureShared{want: want, seen: make(chan struct{})}}
}

func (h *captureLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureLog) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	s := h.share
	s.mu.Lock()
	s.records = append(s.records, m)
	s.mu.Unlock()
	if r.Message == s.want {
		s.once.Do(func() { close(s.seen) })
	}
	return nil
}

func (h *captureLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureLog{attrs: append(append([]slog.Attr(nil), h.attrs...), as...), share: h.share}
}

func (h *captureLog) WithGroup(string) slog.Handler { return h }

func (h *captureLog) find(msg string) map[string]any {
	h.share.mu.Lock()
	defer h.share.mu.Unlock()
	for _, r := range h.share.records {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// While the consumer is behind the head HeadFunc reports, it logs
// "catching up" at Info with its cursor and the distance; the handler holds
// event 10 until such a line appears, so the cursor in it is known.
func TestProgressWhileCatchingUp(t *testing.T) {
	t.Parallel()
	const n = 30
	frames := identityFrames(t, n)
	srv := newFakeServer(t, func(c *conn) { c.serveRest(frames) })
	logs := newCaptureLog("catching up")
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{last: n, cancel: cancel, hook: func(ev Event) error {
		if ev.Seq == 10 {
			select {
			case <-logs.share.seen:
			case <-ctx.Done():
			}
		}
		return nil
	}}
	cfg := fastConfig(srv.URL(), rec)
	cfg.Logger = slog.New(logs)
	cfg.ProgressInterval = 2 * time.Millisecond
	cfg.HeadFunc = func(context.Context) (int64, error) { return n, nil }
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runConsumer(t, ctx, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeqs(t, rec.Seqs(), n)
	r := logs.find("catching up")
	if r == nil {
		t.Fatal("no catching-up line")
	}
	cursor, _ := r["cursor"].(int64)
	behind, _ := r["behind"].(int64)
	if r["level"] != slog.LevelInfo || r["component"] != "consumer" || cursor < 0 || cursor > 9 || behind != n-max(cursor, 0) {
		t.Errorf("catching-up line %v: want Info, component consumer, cursor <= 9, behind %d-cursor", r, n)
	}
	if logs.find("connected") == nil {
		t.Error("no connected line")
	}
}

func TestEventLag(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 1, 0, 0, 10, 0, time.UTC)
	at := "2026-08-01T00:00:00.000Z"
	for _, tc := range []struct {
		msg  firehose.Message
		want time.Duration
		ok   bool
	}{
		{&firehose.Commit{Time: at}, 10 * time.Second, true},
		{&firehose.Sync{Time: at}, 10 * time.Second, true},
		{&firehose.Identity{Time: "2026-08-01T00:00:09.5Z"}, 500 * time.Millisecond, true},
		{&firehose.Account{Time: "2026-08-01T02:00:00+02:00"}, 10 * time.Second, true},
		{&firehose.Identity{Time: "yesterday"}, 0, false},
		{&firehose.Info{Name: "x"}, 0, false},
	} {
		got, ok := eventLag(firehose.Frame{Msg: tc.msg}, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("eventLag(%T %+v) = %s, %v; want %s, %v", tc.msg, tc.msg, got, ok, tc.want, tc.ok)
		}
	}
}
