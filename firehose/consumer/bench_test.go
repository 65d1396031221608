package consumer

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// benchServer streams seqs cursor+1.. forever, encoding each frame from
// make(seq) into a reused buffer.
func benchServer(b *testing.B, make func(seq int64) firehose.Message) *fakeServer {
	return newFakeServer(b, func(c *conn) {
		var buf []byte
		for seq := max(c.Cursor, 0) + 1; ; seq++ {
			var err error
			buf, err = firehose.AppendFrame(buf[:0], make(seq))
			if err != nil {
				b.Error(err)
				return
			}
			if c.WriteMessage(websocket.BinaryMessage, buf) != nil {
				return
			}
		}
	})
}

func benchIdentity(seq int64) firehose.Message {
	return &firehose.Identity{Seq: seq, DID: didOf(seq), Time: "2026-08-01T00:00:00.000Z"}
}

// benchCommit is a #commit of typical size (~2 KB: a 1.7 KB CAR slice, two
// ops); the consumer does not parse the CAR, so its bytes are arbitrary.
func benchCommit() func(seq int64) firehose.Message {
	blocks := make([]byte, 1700)
	for i := range blocks {
		blocks[i] = byte(i * 7)
	}
	c := cid.Sum(cid.DagCBOR, blocks)
	return func(seq int64) firehose.Message {
		return &firehose.Commit{
			Seq: seq, Repo: didOf(seq), Commit: c, Rev: "3lbvhzq2ymk2a", Since: "3lbvhzpx7tc2a",
			Blocks: blocks, PrevData: c, Time: "2026-08-01T00:00:00.000Z",
			Ops: []firehose.RepoOp{
				{Action: "create", Path: "app.bsky.feed.post/3lbvhzq2xtk2a", CID: c},
				{Action: "create", Path: "app.bsky.feed.like/3lbvhzq2xuk2a", CID: c},
			},
		}
	}
}

// BenchmarkConsume measures events/s from a loopback server through the
// consumer to a handler: plain, and durable with one small index write per
// event committed with Sync (batches of up to 128) or NoSync.
func BenchmarkConsume(b *testing.B) {
	for _, frame := range []struct {
		name string
		make func(int64) firehose.Message
	}{
		{"identity", benchIdentity},
		{"commit2k", benchCommit()},
	} {
		b.Run(frame.name+"/plain", func(b *testing.B) {
			benchConsume(b, frame.make, func(url string, last int64, cancel context.CancelFunc) Config {
				return Config{URL: url, Handler: HandlerFunc(func(_ context.Context, ev Event) error {
					if ev.Seq == last {
						cancel()
					}
					return nil
				})}
			})
		})
		for _, mode := range []struct {
			name   string
			noSync bool
		}{{"durable_sync", false}, {"durable_nosync", true}} {
			b.Run(frame.name+"/"+mode.name, func(b *testing.B) {
				db := openDB(b, b.TempDir(), nil)
				defer db.Close()
				benchConsume(b, frame.make, func(url string, last int64, cancel context.CancelFunc) Config {
					h := DurableHandlerFunc(func(_ context.Context, ev Event, batch *pebble.Batch) error {
						k := binary.BigEndian.AppendUint64([]byte("e/"), uint64(ev.Seq))
						if err := batch.Set(k, ev.Raw[:16], nil); err != nil {
							return err
						}
						if ev.Seq == last {
							cancel()
						}
						return nil
					})
					return Config{URL: url, Durable: &Durable{DB: db, Name: "bench", Handler: h, NoSync: mode.noSync}}
				})
			})
		}
	}
}

func benchConsume(b *testing.B, make func(int64) firehose.Message, config func(url string, last int64, cancel context.CancelFunc) Config) {
	srv := benchServer(b, make)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	cfg := config(srv.URL(), int64(b.N), cancel)
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := c.Run(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	if c.Cursor() != int64(b.N) {
		b.Fatalf("cursor %d after %d events", c.Cursor(), b.N)
	}
}
