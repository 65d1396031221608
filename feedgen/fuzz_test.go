package feedgen

import (
	"testing"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// FuzzHandleCommit feeds commits with arbitrary blocks and paths to the
// generator: outside bytes must be dropped or indexed, never crash it or
// make it fail (a handler error would stop the consumer).
func FuzzHandleCommit(f *testing.F) {
	f.Add([]byte{}, "app.bsky.feed.post/3k", "create", []byte("x"))
	f.Add([]byte{0x0a, 0xa1, 0x65}, "app.bsky.feed.post/..", "delete", []byte{})
	f.Add([]byte{0x38, 0xa2}, "app.bsky.feed.like/a", "create", []byte{0xa0})
	f.Add([]byte{}, "app.bsky.feed.post", "update", []byte{})
	// A well-formed commit slice holding one real post, mutated by the
	// fuzzer from there.
	post, err := dagcbor.Marshal(map[string]any{"$type": "app.bsky.feed.post", "text": "hello #go", "createdAt": "2026-01-01T00:00:00Z", "langs": []any{"en"}})
	if err != nil {
		f.Fatal(err)
	}
	pc := cid.Sum(cid.DagCBOR, post)
	f.Add(car.Encode([]cid.CID{pc}, []car.Block{{CID: pc, Data: post}}), "app.bsky.feed.post/3kabc", "create", post)
	db := memDB(f)
	g := newTestGenerator(f, db)
	g.cfg.Feeds.Register(&counter{likes: map[string]int{}, reposts: map[string]int{}})
	g.feeds = g.cfg.Feeds.Feeds()
	f.Fuzz(func(t *testing.T, blocks []byte, path, action string, rec []byte) {
		b := db.NewIndexedBatch()
		defer b.Close()
		m := &firehose.Commit{Seq: 1, Repo: "did:plc:fuzz", Blocks: blocks, Time: "2026-01-01T00:00:00Z",
			Ops: []firehose.RepoOp{{Action: action, Path: path, CID: cid.Sum(cid.DagCBOR, rec)}}}
		ev := consumer.Event{Seq: 1, Frame: firehose.Frame{Op: 1, Type: "#commit", Msg: m}}
		if err := g.HandleEvent(t.Context(), ev, b); err != nil {
			t.Fatalf("handler error on outside bytes: %v", err)
		}
	})
}
