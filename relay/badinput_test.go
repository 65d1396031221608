package relay

import (
	"math/big"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// badInput runs host A's frames (built by build from a fresh account) next to
// a healthy host B, and checks that A's good frames and B's frame are all
// emitted, and that reason was counted once (a relay drop reason, or a
// consumer disconnect reason when consumer is set).
type badInput struct {
	build    func(t *testing.T, a *testRepo) [][]byte
	wantA    int    // frames of host A the relay must emit
	reason   string // the relay's drop reason
	consumer string // or the consumer's disconnect reason
	cfg      Config
	otherPDS bool // A's account is hosted elsewhere
}

func (bi badInput) run(t *testing.T) {
	t.Parallel()
	plc := newPLC(t)
	a, b := newTestRepo(t, 1), newTestRepo(t, 2)
	framesA := bi.build(t, a)
	hostA := newFrameHost(t, framesA)
	hostB := newFrameHost(t, [][]byte{frame(t, b.create(t), 1)})
	pdsA := hostA.URL
	if bi.otherPDS {
		pdsA = "https://elsewhere.example.com"
	}
	plc.set(a.did, "", a.key.Public().Multibase(), pdsA)
	plc.set(b.did, "", b.key.Public().Multibase(), hostB.URL)
	reg := prometheus.NewRegistry()
	cfg := bi.cfg
	cfg.PLCURL, cfg.Registerer = plc.URL, reg
	r := startRelay(t, cfg)
	for _, h := range []*frameHost{hostA, hostB} {
		if err := r.AddHost(t.Context(), "ws://"+h.hostname(), HostOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var maxSeq int64
	for _, f := range framesA {
		if s, ok, _ := firehose.PeekSeq(f); ok && s > maxSeq {
			maxSeq = s
		}
	}
	waitHostCursor(t, r, hostA.hostname(), maxSeq)
	waitHostCursor(t, r, hostB.hostname(), 1)
	got := emitted(t, r)
	if len(got) != bi.wantA+1 {
		drops, warns := r.Counts()
		t.Errorf("relay emitted %d frames, want %d from A and 1 from B (drops %v, warnings %v)", len(got), bi.wantA, drops, warns)
	}
	drops, _ := r.Counts()
	if bi.reason != "" && drops[bi.reason] != 1 {
		t.Errorf("drops %v, want one %s", drops, bi.reason)
	}
	if bi.consumer != "" {
		// The cursor can reach the last good seq before the consumer reads the
		// offending frame that follows it: wait for the disconnect itself.
		waitFor(t, "consumer disconnect for "+bi.consumer, func() bool {
			return counter(t, reg, "conflux_consumer_disconnects_total", "reason", bi.consumer) >= 1
		})
		if n := counter(t, reg, "conflux_consumer_disconnects_total", "reason", bi.consumer); n != 1 {
			t.Errorf("consumer disconnects for %s: %v, want 1", bi.consumer, n)
		}
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// around frames a bad event between two good commits of the same account.
func around(t *testing.T, a *testRepo, bad func() []byte) [][]byte {
	first := frame(t, a.create(t), 1)
	mid := bad()
	return [][]byte{first, mid, frame(t, a.create(t), 3)}
}

func TestBadInputMalformedCBOR(t *testing.T) {
	badInput{wantA: 2, consumer: "bad_frame", build: func(t *testing.T, a *testRepo) [][]byte {
		return around(t, a, func() []byte { return []byte{0xa2, 0x61, 0x74, 0xff, 0x00} })
	}}.run(t)
}

func TestBadInputBadSignature(t *testing.T) {
	badInput{wantA: 2, reason: "bad_signature", build: func(t *testing.T, a *testRepo) [][]byte {
		return around(t, a, func() []byte {
			other, _ := crypto.GenerateK256()
			rev, data := a.rev, a.data
			ev := a.commitWith(t, other)
			a.undo(t, ev, rev, data) // the chain goes on without it
			return frame(t, ev, 2)
		})
	}}.run(t)
}

// secp256k1's group order: s and n-s both verify mathematically; atproto
// accepts only the low one.
var k256N, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

func TestBadInputHighS(t *testing.T) {
	badInput{wantA: 2, reason: "bad_signature", build: func(t *testing.T, a *testRepo) [][]byte {
		return around(t, a, func() []byte {
			rev, data := a.rev, a.data
			ev := a.create(t)
			a.undo(t, ev, rev, data)
			c, blocks := parseEventCommit(t, ev)
			s := new(big.Int).SetBytes(c.Sig[32:])
			s.Sub(k256N, s)
			sig := append([]byte(nil), c.Sig[:32]...)
			c.Sig = append(sig, s.FillBytes(make([]byte, 32))...)
			reframeCommit(t, ev, c, blocks)
			return frame(t, ev, 2)
		})
	}}.run(t)
}

func TestBadInputWrongCARRoot(t *testing.T) {
	badInput{wantA: 2, reason: "car_root", build: func(t *testing.T, a *testRepo) [][]byte {
		return around(t, a, func() []byte {
			rev, data := a.rev, a.data
			ev := a.create(t)
			a.undo(t, ev, rev, data)
			ev.Commit = cid.Sum(cid.DagCBOR, []byte{0xa0})
			return frame(t, ev, 2)
		})
	}}.run(t)
}

func TestBadInputOpsDoNotInvert(t *testing.T) {
	badInput{wantA: 2, reason: "inversion", build: func(t *testing.T, a *testRepo) [][]byte {
		first := frame(t, a.create(t), 1)
		ev := a.create(t)
		ev.Ops[0].Path = "app.bsky.feed.post/3aaaaaaaaaaaa" // not the path the tree changed
		ev.Ops[0].Action = string(repo.Create)
		mid := frame(t, ev, 2)
		// The relay kept the state of the first commit; the third follows
		// on from the second (a break it passes and counts).
		return [][]byte{first, mid, frame(t, a.create(t), 3)}
	}}.run(t)
}

func TestBadInputFutureRev(t *testing.T) {
	badInput{wantA: 2, reason: "future_rev", build: func(t *testing.T, a *testRepo) [][]byte {
		return around(t, a, func() []byte {
			rev, data, clock := a.rev, a.data, a.clock
			a.clock = time.Now().Add(time.Hour)
			ev := a.create(t)
			a.undo(t, ev, rev, data)
			a.clock = clock
			return frame(t, ev, 2)
		})
	}}.run(t)
}

func TestBadInputStaleRev(t *testing.T) {
	badInput{wantA: 2, reason: "stale_rev", build: func(t *testing.T, a *testRepo) [][]byte {
		ev := a.create(t)
		first := frame(t, ev, 1)
		again := frame(t, ev, 2) // the same commit under a new upstream seq
		return [][]byte{first, again, frame(t, a.create(t), 3)}
	}}.run(t)
}

func TestBadInputReplayedSeq(t *testing.T) {
	badInput{wantA: 2, consumer: "out_of_order", build: func(t *testing.T, a *testRepo) [][]byte {
		first := frame(t, a.create(t), 5)
		second := frame(t, a.create(t), 6)
		replay := frame(t, a.create(t), 5)
		return [][]byte{first, second, replay}
	}}.run(t)
}

func TestBadInputHostedElsewhere(t *testing.T) {
	badInput{wantA: 0, reason: "wrong_host", otherPDS: true, build: func(t *testing.T, a *testRepo) [][]byte {
		return [][]byte{frame(t, a.create(t), 1)}
	}}.run(t)
}

func TestBadInputTextFrame(t *testing.T) {
	badInput{wantA: 2, consumer: "text_frame", build: func(t *testing.T, a *testRepo) [][]byte {
		return around(t, a, func() []byte { return []byte(textPrefix + `{"op":1}`) })
	}}.run(t)
}

func TestBadInputTooManyOps(t *testing.T) {
	badInput{wantA: 2, consumer: "bad_frame", build: func(t *testing.T, a *testRepo) [][]byte {
		return around(t, a, func() []byte { return oversized(t, a, 201, 0) })
	}}.run(t)
}

func TestBadInputBlocksTooBig(t *testing.T) {
	badInput{wantA: 2, consumer: "bad_frame", build: func(t *testing.T, a *testRepo) [][]byte {
		return around(t, a, func() []byte { return oversized(t, a, 1, 2_000_001) })
	}}.run(t)
}

// TestBadInputFlood sends more events than the rate limit allows in the time
// they take to send: every one is still emitted (backpressure, not drops).
func TestBadInputFlood(t *testing.T) {
	const n = 30
	badInput{wantA: n, cfg: Config{RateLimit: 20}, build: func(t *testing.T, a *testRepo) [][]byte {
		var out [][]byte
		for i := range n {
			out = append(out, frame(t, a.create(t), int64(i+1)))
		}
		return out
	}}.run(t)
}

// oversized builds a #commit frame by hand, past what the encoder allows:
// ops dummy ops and a blocks field of size bytes. It has no seq, so the
// test host sends it once: the consumer drops the connection on it and a host
// that re-sent it forever would stall its own stream (see the report).
func oversized(t *testing.T, a *testRepo, ops, size int) []byte {
	t.Helper()
	link := cid.Sum(cid.DagCBOR, []byte{0xa0})
	var opList []any
	for i := range ops {
		opList = append(opList, map[string]any{"action": "create", "path": "app.bsky.feed.post/" + encode(i), "cid": link})
	}
	if opList == nil {
		opList = []any{}
	}
	body := map[string]any{
		"rebase": false, "tooBig": false, "repo": a.did, "commit": link,
		"rev": a.nextRev(), "since": nil, "blocks": make([]byte, size), "ops": opList, "blobs": []any{},
		"time": "2026-01-01T00:00:00.000Z",
	}
	h, err := dagcbor.Marshal(map[string]any{"op": int64(1), "t": "#commit"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := dagcbor.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return append(h, b...)
}

func encode(i int) string { return "3" + testDID(i)[len(testDID(i))-6:] + "aaaaaa" }
