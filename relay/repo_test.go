package relay

import (
	"fmt"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// testRepo is a signed repository that produces sync 1.1 #commit events,
// correct unless a test breaks them on purpose.
type testRepo struct {
	did    string
	key    crypto.PrivateKey
	tree   *mst.Tree
	blocks car.Blocks
	rev    string
	data   cid.CID
	clock  time.Time
	n      int
}

// testDID returns a valid did:plc for i.
func testDID(i int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	out := make([]byte, 6)
	for j := 5; j >= 0; j-- {
		out[j] = alphabet[i%32]
		i /= 32
	}
	return "did:plc:aaaaaaaaaaaaaaaaaa" + string(out)
}

func newTestRepo(t testing.TB, i int) *testRepo {
	t.Helper()
	key, err := crypto.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	return &testRepo{did: testDID(i), key: key, tree: mst.New(), blocks: car.Blocks{}, clock: time.Now().Add(-time.Hour)}
}

func (tr *testRepo) nextRev() string {
	tr.clock = tr.clock.Add(time.Millisecond)
	return string(syntax.NewTIDFromTime(tr.clock, 0))
}

// create adds a post and returns the commit event (seq 0, not yet framed).
func (tr *testRepo) create(t testing.TB) *firehose.Commit {
	t.Helper()
	tr.n++
	rec, err := dagcbor.Marshal(map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("post %d", tr.n), "createdAt": "2026-01-01T00:00:00.000Z"})
	if err != nil {
		t.Fatal(err)
	}
	rc := cid.Sum(cid.DagCBOR, rec)
	tr.blocks[rc] = rec
	path := "app.bsky.feed.post/" + string(syntax.NewTIDFromTime(tr.clock.Add(time.Duration(tr.n)), 1))
	if _, err := tr.tree.Put(path, rc); err != nil {
		t.Fatal(err)
	}
	return tr.commit(t, tr.nextRev(), []repo.Op{{Action: repo.Create, Path: path, CID: rc}}, tr.key)
}

// commit signs the current tree at rev and builds the event.
func (tr *testRepo) commit(t testing.TB, rev string, ops []repo.Op, key crypto.PrivateKey) *firehose.Commit {
	t.Helper()
	data, err := tr.tree.Root()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.tree.WriteBlocks(func(c cid.CID, d []byte) error { tr.blocks[c] = d; return nil }); err != nil {
		t.Fatal(err)
	}
	c := &repo.Commit{DID: tr.did, Version: repo.Version, Data: data, Rev: rev}
	if err := c.Sign(key); err != nil {
		t.Fatal(err)
	}
	cc, block, err := c.Block()
	if err != nil {
		t.Fatal(err)
	}
	slice, err := repo.CommitSlice(cc, block, tr.blocks, ops, data)
	if err != nil {
		t.Fatal(err)
	}
	ev := &firehose.Commit{Repo: tr.did, Commit: cc, Rev: rev, Since: tr.rev, Blocks: slice, PrevData: tr.data, Time: "2026-01-01T00:00:00.000Z", Blobs: []cid.CID{}}
	for _, op := range ops {
		ev.Ops = append(ev.Ops, firehose.RepoOp{Action: string(op.Action), Path: op.Path, CID: op.CID, Prev: op.Prev})
	}
	tr.rev, tr.data = rev, data
	return ev
}

// frame encodes m with seq.
func frame(t testing.TB, m interface {
	Frame(int64, time.Time) ([]byte, error)
}, seq int64) []byte {
	t.Helper()
	b, err := m.Frame(seq, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// commitWith creates a post signed with key instead of the account's.
func (tr *testRepo) commitWith(t testing.TB, key crypto.PrivateKey) *firehose.Commit {
	t.Helper()
	saved := tr.key
	tr.key = key
	defer func() { tr.key = saved }()
	return tr.create(t)
}

// parseEventCommit returns the event's commit and its CAR blocks.
func parseEventCommit(t testing.TB, ev *firehose.Commit) (*repo.Commit, car.Blocks) {
	t.Helper()
	_, blocks, err := car.ReadBytes(ev.Blocks, car.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.ParseCommit(blocks[ev.Commit])
	if err != nil {
		t.Fatal(err)
	}
	return c, blocks
}

// reframeCommit replaces the event's commit block with c.
func reframeCommit(t testing.TB, ev *firehose.Commit, c *repo.Commit, blocks car.Blocks) {
	t.Helper()
	cc, block, err := c.Block()
	if err != nil {
		t.Fatal(err)
	}
	out := []car.Block{{CID: cc, Data: block}}
	for k, v := range blocks {
		if k != ev.Commit {
			out = append(out, car.Block{CID: k, Data: v})
		}
	}
	ev.Commit = cc
	ev.Blocks = car.Encode([]cid.CID{cc}, out)
}

// undo forgets a commit the relay must drop: its records leave the tree and
// the chain goes on from the commit before it.
func (tr *testRepo) undo(t testing.TB, ev *firehose.Commit, rev string, data cid.CID) {
	t.Helper()
	for _, op := range ev.Ops {
		if _, err := tr.tree.Delete(op.Path); err != nil {
			t.Fatal(err)
		}
	}
	tr.rev, tr.data = rev, data
}
