package pds

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// Restart the host mid-activity, twice: writers keep going (retrying what
// the stopping host refused), a consumer resumes by cursor. Seqs continue
// with no gap and no repeat, each repo's revs and prevData chain across the
// restarts, and everything acknowledged is in the final repos.
func TestRestartMidActivity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	chk := newChecker(t, e.resolver)
	e.consume(chk, 0)
	const accounts = 4
	perWriter := 300
	if testing.Short() {
		perWriter = 60
	}
	var mu sync.RWMutex // guards e.pds against the restarts
	writers := make([]*writer, accounts)
	for i := range writers {
		did, auth := e.account(fmt.Sprintf("r%d.test", i))
		writers[i] = newWriter(e, did, auth, uint64(100+i))
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, accounts)
	for _, w := range writers {
		wg.Go(func() {
			for i := 0; i < perWriter; {
				mu.RLock()
				pds := e.pds
				mu.RUnlock()
				err := w.stepOn(pds, i)
				if errors.Is(err, ErrNotRunning) {
					time.Sleep(2 * time.Millisecond)
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				i++
				done.Add(1)
			}
		})
	}
	for _, at := range []int64{accounts * int64(perWriter) / 3, 2 * accounts * int64(perWriter) / 3} {
		waitFor(t, "writes before the restart", func() bool { return done.Load() >= at })
		mu.Lock()
		// Stop while writers are mid-write: in-flight writes finish,
		// new ones get ErrNotRunning and retry on the new host.
		e.stop()
		e.start()
		mu.Unlock()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	head := e.pds.events.Head()
	waitFor(t, "the consumer to catch up", func() bool { chk.mu.Lock(); defer chk.mu.Unlock(); return chk.lastSeq == head })
	chk.mu.Lock()
	defer chk.mu.Unlock()
	if len(chk.failures) > 0 {
		t.Fatalf("checker: %v", chk.failures[:min(5, len(chk.failures))])
	}
	for i, s := range chk.seqs {
		if s != int64(i+1) {
			t.Fatalf("event %d has seq %d: a gap or a repeat", i, s)
		}
	}
	seen := map[cid.CID]bool{}
	for _, cm := range chk.commits {
		seen[cm.Commit] = true
	}
	for _, w := range writers {
		for _, a := range w.acks {
			if !seen[a.commit] {
				t.Fatalf("acknowledged commit %s of %s lost", a.commit, a.did)
			}
		}
		assertRecords(t, w.did, exportedRecords(t, e, w.did, chk.lastData[w.did]), w.model)
	}
}

// stepOn is step against a given host (the env's may be replaced).
func (w *writer) stepOn(p *PDS, i int) error {
	return w.stepWith(func(writes []Write) (CommitResult, error) {
		return p.ApplyWrites(w.e.t.Context(), w.did, writes, cid.Undef)
	}, i)
}

var errCrash = errors.New("simulated crash")

// A crash between the repo batch and the event append loses nothing: the
// stored commit (or a new account's three events) is announced at the next
// start, exactly once, with its real diff. A crash after the append but
// before the pending record was cleared announces nothing twice.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	chk := newChecker(t, e.resolver)
	e.consume(chk, 0)
	did, _ := e.account("crash.test")
	mustWrite := func(text string) CommitResult {
		t.Helper()
		res, err := e.pds.ApplyWrites(t.Context(), did, []Write{{Action: repo.Create, Collection: "app.bsky.feed.post", Value: post(text)}}, cid.Undef)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	mustWrite("before")
	crashAt := func(stage string) {
		var once atomic.Bool
		e.pds.crashHook = func(s string) error {
			if s == stage && once.CompareAndSwap(false, true) {
				return errCrash
			}
			return nil
		}
	}

	// Crash after the store commit, before the append.
	crashAt("stored")
	head := e.pds.events.Head()
	if _, err := e.pds.ApplyWrites(t.Context(), did, []Write{{Action: repo.Create, Collection: "app.bsky.feed.post", RKey: "3ccccccccccc2", Value: post("lost?")}}, cid.Undef); !errors.Is(err, errCrash) {
		t.Fatalf("write at crash: %v", err)
	}
	if e.pds.events.Head() != head {
		t.Fatal("event appended despite the crash")
	}
	if _, err := e.pds.ApplyWrites(t.Context(), did, []Write{{Action: repo.Create, Collection: "app.bsky.feed.post", Value: post("x")}}, cid.Undef); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("write after an unannounced commit: %v, want refusal", err)
	}
	// A new account crashing the same way.
	crashAt("stored")
	if _, err := e.pds.CreateAccount(t.Context(), CreateAccountInput{Handle: "newbie.test"}); !errors.Is(err, errCrash) {
		t.Fatalf("create at crash: %v", err)
	}
	e.restart()
	if got := e.pds.events.Head(); got != head+4 {
		t.Fatalf("after recovery head %d, want %d (the commit and the account's three events)", got, head+4)
	}
	rec, err := e.pds.GetRecord(did, "app.bsky.feed.post", "3ccccccccccc2")
	if err != nil || rec.Value["text"] != "lost?" {
		t.Fatalf("stored record after restart: %v %v", rec, err)
	}

	// Crash after the append, before the pending record is cleared.
	crashAt("appended")
	head = e.pds.events.Head()
	if _, err := e.pds.ApplyWrites(t.Context(), did, []Write{{Action: repo.Delete, Collection: "app.bsky.feed.post", RKey: "3ccccccccccc2"}}, cid.Undef); !errors.Is(err, errCrash) {
		t.Fatalf("write at crash: %v", err)
	}
	e.restart()
	if got := e.pds.events.Head(); got != head+1 {
		t.Fatalf("after recovery head %d, want %d: no duplicate", got, head+1)
	}
	last := mustWrite("after")
	waitFor(t, "the consumer", func() bool { chk.mu.Lock(); defer chk.mu.Unlock(); return chk.lastSeq == last.Seq })
	chk.mu.Lock()
	defer chk.mu.Unlock()
	if len(chk.failures) > 0 {
		t.Fatalf("checker: %v", chk.failures)
	}
	var types []string
	for _, f := range chk.frames[4:] { // after crash.test's creation and first write
		switch m := f.Msg.(type) {
		case *firehose.Commit:
			types = append(types, fmt.Sprintf("commit(%d ops)", len(m.Ops)))
		default:
			types = append(types, f.Type)
		}
	}
	want := "[commit(1 ops) #identity #account commit(0 ops) commit(1 ops) commit(1 ops)]"
	if got := fmt.Sprint(types); got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	if _, err := e.pds.account(chk.frames[5].Msg.(*firehose.Identity).DID); err != nil {
		t.Fatalf("recovered account: %v", err)
	}
}
