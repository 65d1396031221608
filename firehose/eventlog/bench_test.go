package eventlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// benchFrame is the size of a typical #commit frame.
const benchFrame = 1536

// benchEntry encodes a fresh 1.5 KB frame carrying its seq, as a real
// frame encoder would.
type benchEntry struct{}

func (benchEntry) Frame(seq int64, _ time.Time) ([]byte, error) {
	f := make([]byte, benchFrame)
	binary.BigEndian.PutUint64(f, uint64(seq))
	return f, nil
}

// BenchmarkAppend measures durable append throughput with 1.5 KB frames:
// one op is one event. With many appenders, group commit shares each fsync.
func BenchmarkAppend(b *testing.B) {
	for _, fsync := range []bool{true, false} {
		for _, appenders := range []int{1, 16, 128} {
			name := fmt.Sprintf("fsync=%v/appenders=%d", fsync, appenders)
			b.Run(name, func(b *testing.B) { benchAppend(b, !fsync, appenders) })
		}
	}
}

func benchAppend(b *testing.B, noSync bool, appenders int) {
	reg := prometheus.NewRegistry()
	l := openLog(b, Config{NoSync: noSync, TailBytes: 64 << 20, Metrics: NewMetrics(reg)})
	startRun(b, l)
	ctx := context.Background()
	b.SetBytes(benchFrame)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range appenders {
		n := b.N / appenders
		if w < b.N%appenders {
			n++
		}
		wg.Go(func() {
			for range n {
				if _, err := l.Append(ctx, benchEntry{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	batches := histogram(b, reg, "conflux_eventlog_batch_events")
	commits := histogram(b, reg, "conflux_eventlog_commit_seconds")
	b.ReportMetric(batches.GetSampleSum()/float64(batches.GetSampleCount()), "events/commit")
	b.ReportMetric(1e6*commits.GetSampleSum()/float64(commits.GetSampleCount()), "µs/commit")
}

// BenchmarkReadFrom measures a subscriber replaying 1M events of 1.5 KB in
// reads of 1000: one op is the whole pass. "tail" serves them from memory,
// "pebble" (after a reopen, with an empty tail) from the store.
func BenchmarkReadFrom(b *testing.B) {
	const total, chunk = 1_000_000, 1000
	dir := b.TempDir()
	l, err := Open(Config{Dir: dir, NoSync: true, TailBytes: 2 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	batch := make([]Entry, chunk)
	for i := range batch {
		batch[i] = benchEntry{}
	}
	for range total / chunk {
		if _, err := l.AppendBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}

	pass := func(b *testing.B, l *Log) {
		buf := make([]Event, 0, chunk)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			var cursor int64
			for cursor < total {
				evs, err := l.ReadFrom(cursor, buf[:0], chunk)
				if err != nil || len(evs) == 0 {
					b.Fatalf("ReadFrom(%d): %d events, %v", cursor, len(evs), err)
				}
				cursor = evs[len(evs)-1].Seq
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)*total/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("tail", func(b *testing.B) {
		if s := l.Stats(); s.TailEvents != total {
			b.Fatalf("tail holds %d events", s.TailEvents)
		}
		pass(b, l)
	})
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	l2 := openLog(b, Config{Dir: dir})
	b.Run("pebble", func(b *testing.B) { pass(b, l2) })
}
