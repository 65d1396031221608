package appview

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
	"github.com/conflux-atproto/conflux/firehose/subscribe"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// streamHost is a repository host held in memory that turns the synthetic
// driver's writes into firehose messages: each ApplyWrites updates the
// user's MST, signs a v3 commit and records a sync 1.1 #commit with its CAR
// slice (repo.CommitSlice); each account gets an #identity and an #account.
// It stands in for a PDS where a stream far larger than a PDS writes quickly
// under -race is needed; the messages are the same shapes a PDS emits.
type streamHost struct {
	mu    sync.Mutex // guards msgs and repos; a repo's lock is taken first
	msgs  []eventlog.Entry
	repos map[string]*streamRepo
	time  string
}

type streamRepo struct {
	mu     sync.Mutex
	did    string
	key    crypto.PrivateKey
	clock  *syntax.Clock
	blocks mst.MemBlocks
	tree   *mst.Tree
	data   cid.CID
	rev    string
	paths  map[string]cid.CID
}

func newStreamHost() *streamHost {
	return &streamHost{repos: map[string]*streamRepo{},
		time: firehose.FormatTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
}

func (h *streamHost) CreateAccount(_ context.Context, handle, _ string) (string, error) {
	key, err := crypto.GenerateK256()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(handle))
	did := "did:plc:" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:24]
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.repos[did]; ok {
		return "", fmt.Errorf("streamhost: handle %s taken", handle)
	}
	h.repos[did] = &streamRepo{did: did, key: key, clock: syntax.NewClock(0), blocks: mst.MemBlocks{},
		tree: mst.New(), data: mst.EmptyRoot, paths: map[string]cid.CID{}}
	h.msgs = append(h.msgs,
		&firehose.Identity{DID: did, Handle: strings.ToLower(handle), Time: h.time},
		&firehose.Account{DID: did, Active: true, Time: h.time})
	return did, nil
}

func (h *streamHost) UploadBlob(_ context.Context, _, mime string, data []byte) (synth.Blob, error) {
	return synth.Blob{CID: cid.Sum(cid.Raw, data), MimeType: mime, Size: int64(len(data))}, nil
}

func (h *streamHost) ApplyWrites(_ context.Context, did string, writes []synth.Write) ([]synth.Result, error) {
	h.mu.Lock()
	r := h.repos[did]
	h.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("streamhost: no repo %s", did)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := make([]repo.Op, 0, len(writes))
	results := make([]synth.Result, len(writes))
	for i, w := range writes {
		op, err := r.apply(w)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		if op.CID.Defined() {
			results[i] = synth.Result{URI: "at://" + did + "/" + op.Path, CID: op.CID}
		}
	}
	c, err := r.commit(ops)
	if err != nil {
		return nil, err
	}
	c.Time = h.time
	h.mu.Lock()
	h.msgs = append(h.msgs, c)
	h.mu.Unlock()
	return results, nil
}

// apply puts one write into the tree; the driver's deletes of records it
// no longer has are reported as synth.ErrNotFound, as a PDS would.
func (r *streamRepo) apply(w synth.Write) (repo.Op, error) {
	path := w.Collection + "/" + w.RKey
	prev, exists := r.paths[path]
	op := repo.Op{Action: w.Action, Path: path, Prev: prev}
	switch {
	case w.Action == repo.Delete && !exists, w.Action == repo.Update && !exists:
		return op, fmt.Errorf("streamhost: %s %s: %w", w.Action, path, synth.ErrNotFound)
	case w.Action == repo.Create && exists:
		return op, fmt.Errorf("streamhost: create %s: exists", path)
	case w.Action == repo.Delete:
		if _, err := r.tree.Delete(path); err != nil {
			return op, err
		}
		delete(r.paths, path)
		return op, nil
	}
	b, err := dagcbor.Marshal(w.Value)
	if err != nil {
		return op, err
	}
	op.CID = cid.Sum(cid.DagCBOR, b)
	r.blocks[op.CID] = b
	if _, err := r.tree.Put(path, op.CID); err != nil {
		return op, err
	}
	r.paths[path] = op.CID
	return op, nil
}

// commit signs a commit over the tree and builds its #commit event.
func (r *streamRepo) commit(ops []repo.Op) (*firehose.Commit, error) {
	root, err := r.tree.Root()
	if err != nil {
		return nil, err
	}
	if err := r.tree.WriteBlocks(r.blocks.Put); err != nil {
		return nil, err
	}
	cm := repo.Commit{DID: r.did, Version: repo.Version, Data: root, Rev: string(r.clock.Next())}
	if err := cm.Sign(r.key); err != nil {
		return nil, err
	}
	cc, cb, err := cm.Block()
	if err != nil {
		return nil, err
	}
	slice, err := repo.CommitSlice(cc, cb, r.blocks, ops, root)
	if err != nil {
		return nil, err
	}
	ev := &firehose.Commit{Repo: r.did, Commit: cc, Rev: cm.Rev, Since: r.rev, Blocks: slice, PrevData: r.data}
	for _, op := range ops {
		ev.Ops = append(ev.Ops, firehose.RepoOp{Action: string(op.Action), Path: op.Path, CID: op.CID, Prev: op.Prev})
	}
	r.data, r.rev = root, cm.Rev
	return ev, nil
}

// accountEvents puts #account events into the stream: one account is
// taken down at a third of it and reactivated at two thirds, another is
// deleted half way (its later commits are then dropped by the indexer).
func (h *streamHost) accountEvents() {
	var dids []string
	for did := range h.repos {
		dids = append(dids, did)
	}
	slices.Sort(dids)
	n := len(h.msgs)
	at := map[int]eventlog.Entry{
		n / 3:     &firehose.Account{DID: dids[0], Active: false, Status: "takendown", Time: h.time},
		n / 2:     &firehose.Account{DID: dids[1], Active: false, Status: "deleted", Time: h.time},
		2 * n / 3: &firehose.Account{DID: dids[0], Active: true, Time: h.time},
	}
	out := make([]eventlog.Entry, 0, n+len(at))
	for i, m := range h.msgs {
		if ev, ok := at[i]; ok {
			out = append(out, ev)
		}
		out = append(out, m)
	}
	h.msgs = out
}

// streamRelay is an event log holding a generated stream behind a real
// subscribeRepos server.
type streamRelay struct {
	url  string
	head int64
}

// serveStream generates n synthetic actions by users accounts into an
// event log and serves it; everything stops when the test ends.
func serveStream(t testing.TB, users int, n int64, seed int64) *streamRelay {
	t.Helper()
	h := newStreamHost()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var tick int64
	d, err := synth.New(synth.Config{Host: h, Users: users, MaxWrites: n, Seed: seed, Workers: 4,
		Now: func() time.Time { tick++; return start.Add(time.Duration(tick) * time.Millisecond) }, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.accountEvents()
	checkMix(t, h.msgs)
	l, err := eventlog.Open(eventlog.Config{Dir: t.TempDir(), NoSync: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = l.Close() })
	for i := 0; i < len(h.msgs); i += 1024 {
		if _, err := l.AppendBatch(t.Context(), h.msgs[i:min(len(h.msgs), i+1024)]); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := subscribe.New(subscribe.Config{Logger: quiet()}, l)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/xrpc/com.atproto.sync.subscribeRepos", sub)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { _ = sub.Close(); srv.Close() })
	return &streamRelay{url: srv.URL, head: l.Head()}
}

// checkMix fails unless the stream creates every indexed kind of record and
// deletes some.
func checkMix(t testing.TB, msgs []eventlog.Entry) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range msgs {
		if c, ok := m.(*firehose.Commit); ok {
			for _, op := range c.Ops {
				coll, _, _ := strings.Cut(op.Path, "/")
				seen[op.Action+" "+coll]++
			}
		}
	}
	for _, k := range []string{"create app.bsky.feed.post", "create app.bsky.feed.like", "create app.bsky.feed.repost",
		"create app.bsky.graph.follow", "create app.bsky.actor.profile", "delete app.bsky.feed.post"} {
		if seen[k] == 0 {
			t.Fatalf("generated stream has no %q op: %v", k, seen)
		}
	}
}
