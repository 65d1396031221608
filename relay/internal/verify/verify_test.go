package verify

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

const scenarioFile = "../../../../shared/testdata/indigo/relay-scenarios/post_lifecycle.json"

// stubIDs serves fixed identities and counts refreshes. After a refresh it
// serves fresh (if set), as a rotated key or a migration would look.
type stubIDs struct {
	mu        sync.Mutex
	cur       *identity.Identity
	fresh     *identity.Identity
	refreshes int
}

func (s *stubIDs) Lookup(context.Context, string) (*identity.Identity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, nil
}

func (s *stubIDs) Refresh(context.Context, string) (*identity.Identity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes++
	if s.fresh != nil {
		s.cur = s.fresh
	}
	return s.cur, nil
}

func doc(t testing.TB, did, key, pds string) *identity.Identity {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"id": did,
		"verificationMethod": []map[string]any{{
			"id": did + "#atproto", "type": "Multikey", "controller": did, "publicKeyMultibase": key,
		}},
		"service": []map[string]any{{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}},
	})
	id, err := identity.ParseDocument(did, b)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

const (
	realDID  = "did:plc:44ybard66vv44zksje25o7dz"
	realKey  = "zQ3shULQPBZrbHpyf48oS68ZudUDQNdtWrhV8dafhaTFFUeGP"
	otherKey = "zQ3shdADPnggw3JH3JFg2parVSUsf2T9CLKKNBxViuc94PNsm"
	realPDS  = "https://morel.us-east.host.bsky.network"
	realHost = "morel.us-east.host.bsky.network"
)

// scenarioCommits returns the six real sync 1.1 commits of one account.
func scenarioCommits(t testing.TB) []*firehose.Commit {
	t.Helper()
	raw, err := os.ReadFile(scenarioFile)
	if err != nil {
		t.Fatal(err)
	}
	var sc struct {
		Messages []struct {
			Frame json.RawMessage `json:"frame"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(raw, &sc); err != nil {
		t.Fatal(err)
	}
	var out []*firehose.Commit
	for _, m := range sc.Messages {
		out = append(out, decodeCommit(t, frameFromJSON(t, m.Frame)))
	}
	return out
}

func frameFromJSON(t testing.TB, raw json.RawMessage) []byte {
	t.Helper()
	v, err := dagcbor.ObjectFromJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	body := v["body"].(map[string]any)
	if b, ok := body["blobs"]; ok && b == nil {
		body["blobs"] = []any{}
	}
	h, _ := dagcbor.Marshal(v["header"])
	b, err := dagcbor.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return append(h, b...)
}

func decodeCommit(t testing.TB, f []byte) *firehose.Commit {
	t.Helper()
	fr, err := firehose.DecodeFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	return fr.Msg.(*firehose.Commit)
}

func newVerifier(t testing.TB, ids Identities) *Verifier {
	t.Helper()
	v, err := New(Config{Identities: ids, Now: func() time.Time { return time.Date(2025, 4, 17, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func reasonOf(err error) Reason {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Reason
	}
	return ReasonNone
}

// TestChain accepts the real chain in order, each commit against the state
// the previous one left.
func TestChain(t *testing.T) {
	t.Parallel()
	ids := &stubIDs{cur: doc(t, realDID, realKey, realPDS)}
	v := newVerifier(t, ids)
	var p Prior
	for i, ev := range scenarioCommits(t) {
		res, err := v.Commit(t.Context(), ev, ids.cur, p, false)
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		if i > 0 && len(res.Warnings) != 0 {
			t.Errorf("commit %d: warnings %v on a continuous chain", i, res.Warnings)
		}
		p = Prior{Rev: res.Rev, Data: res.Data}
	}
	if ids.refreshes != 0 {
		t.Errorf("%d refreshes on good signatures", ids.refreshes)
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()
	evs := scenarioCommits(t)
	good := func() *firehose.Commit { c := *evs[1]; return &c }
	prior := Prior{Rev: evs[0].Rev, Data: evs[1].PrevData}
	cases := []struct {
		name   string
		ev     func() *firehose.Commit
		prior  Prior
		now    time.Time
		key    string
		want   Reason
		refres int
	}{
		{name: "stale", ev: good, prior: Prior{Rev: evs[1].Rev, Data: evs[1].PrevData}, want: ReasonStaleRev},
		{name: "future", ev: good, prior: prior, now: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), want: ReasonFutureRev},
		{name: "bad signature, refreshed once", ev: good, prior: prior, key: otherKey, want: ReasonBadSignature, refres: 1},
		{name: "car root", ev: func() *firehose.Commit { c := good(); c.Commit = evs[0].Commit; return c }, prior: prior, want: ReasonCARRoot},
		{name: "rev mismatch", ev: func() *firehose.Commit { c := good(); c.Rev = evs[2].Rev; return c }, prior: prior, want: ReasonCommitMismatch},
		{name: "repo mismatch", ev: func() *firehose.Commit { c := good(); c.Repo = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"; return c }, prior: prior, want: ReasonCommitMismatch},
		{name: "prevData does not invert", ev: func() *firehose.Commit { c := good(); c.PrevData = evs[3].PrevData; return c }, prior: prior, want: ReasonInversion},
		{name: "no prevData with known state", ev: func() *firehose.Commit { c := good(); c.PrevData = cid.Undef; return c }, prior: prior, want: ReasonMissingPrevData},
		{name: "bad CAR", ev: func() *firehose.Commit { c := good(); c.Blocks = c.Blocks[:len(c.Blocks)-3]; return c }, prior: prior, want: ReasonBadCAR},
		{name: "bad rev", ev: func() *firehose.Commit { c := good(); c.Rev = "3lmxjza3nva00"; return c }, prior: prior, want: ReasonBadRev},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := realKey
			if tc.key != "" {
				key = tc.key
			}
			ids := &stubIDs{cur: doc(t, realDID, key, realPDS)}
			now := time.Date(2025, 4, 17, 0, 0, 0, 0, time.UTC)
			if !tc.now.IsZero() {
				now = tc.now
			}
			v, _ := New(Config{Identities: ids, Now: func() time.Time { return now }})
			_, err := v.Commit(t.Context(), tc.ev(), ids.cur, tc.prior, false)
			if got := reasonOf(err); got != tc.want {
				t.Errorf("reason %q (%v), want %q", got, err, tc.want)
			}
			if ids.refreshes != tc.refres {
				t.Errorf("%d refreshes, want %d", ids.refreshes, tc.refres)
			}
		})
	}
}

// TestLenient: an inversion failure and a missing prevData pass with a
// counted warning on a lenient host; a bad signature still drops.
func TestLenient(t *testing.T) {
	t.Parallel()
	evs := scenarioCommits(t)
	ids := &stubIDs{cur: doc(t, realDID, realKey, realPDS)}
	v := newVerifier(t, ids)
	prior := Prior{Rev: evs[0].Rev, Data: evs[1].PrevData}
	c := *evs[1]
	c.PrevData = evs[3].PrevData
	res, err := v.Commit(t.Context(), &c, ids.cur, prior, true)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(res.Warnings, WarnInversion) || !contains(res.Warnings, WarnDiscontinuity) {
		t.Errorf("warnings %v, want inversion and discontinuity", res.Warnings)
	}
	c.PrevData = cid.Undef
	if res, err = v.Commit(t.Context(), &c, ids.cur, prior, true); err != nil || !contains(res.Warnings, WarnNoPrevData) {
		t.Errorf("no prevData: %v %v", res, err)
	}
}

func contains(rs []Reason, r Reason) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// TestSignatureRefresh: a rotated key verifies after the one forced refresh.
func TestSignatureRefresh(t *testing.T) {
	t.Parallel()
	evs := scenarioCommits(t)
	ids := &stubIDs{cur: doc(t, realDID, otherKey, realPDS), fresh: doc(t, realDID, realKey, realPDS)}
	v := newVerifier(t, ids)
	if _, err := v.Commit(t.Context(), evs[0], ids.cur, Prior{}, false); err != nil {
		t.Fatal(err)
	}
	if ids.refreshes != 1 {
		t.Errorf("%d refreshes, want 1", ids.refreshes)
	}
}

// TestRefreshRateLimited: a flood of bad signatures forces one refresh per
// DID per interval, not one per event.
func TestRefreshRateLimited(t *testing.T) {
	t.Parallel()
	evs := scenarioCommits(t)
	ids := &stubIDs{cur: doc(t, realDID, otherKey, realPDS)}
	v := newVerifier(t, ids)
	for range 5 {
		if _, err := v.Commit(t.Context(), evs[0], ids.cur, Prior{}, false); reasonOf(err) != ReasonBadSignature {
			t.Fatalf("got %v, want bad signature", err)
		}
	}
	if ids.refreshes != 1 {
		t.Errorf("%d refreshes for 5 bad signatures, want 1", ids.refreshes)
	}
}

// TestResolveHost: a host mismatch refreshes once; a migration to this host
// passes, a DID that stays elsewhere is wrong_host.
func TestResolveHost(t *testing.T) {
	t.Parallel()
	ids := &stubIDs{cur: doc(t, realDID, realKey, "https://old.example.com"), fresh: doc(t, realDID, realKey, realPDS)}
	v := newVerifier(t, ids)
	if _, err := v.Resolve(t.Context(), realDID, realHost); err != nil || ids.refreshes != 1 {
		t.Errorf("migrated: err %v, %d refreshes", err, ids.refreshes)
	}
	ids = &stubIDs{cur: doc(t, realDID, realKey, "https://old.example.com")}
	v = newVerifier(t, ids)
	if _, err := v.Resolve(t.Context(), realDID, realHost); reasonOf(err) != ReasonWrongHost || ids.refreshes != 1 {
		t.Errorf("elsewhere: err %v, %d refreshes", err, ids.refreshes)
	}
}

func TestHostOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://PDS.Example.com":     "pds.example.com",
		"https://pds.example.com:443": "pds.example.com",
		"http://127.0.0.1:2583":       "127.0.0.1:2583",
		"http://localhost:80/":        "localhost",
	} {
		if got, err := HostOf(in); err != nil || got != want {
			t.Errorf("HostOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := HostOf("not a url"); err == nil {
		t.Error("HostOf accepted a bad URL")
	}
}

// FuzzCommit feeds arbitrary frames through the verifier: any outcome but a
// panic is fine, and an accepted commit must carry the state it claims.
func FuzzCommit(f *testing.F) {
	raw, err := os.ReadFile(scenarioFile)
	if err != nil {
		f.Fatal(err)
	}
	var sc struct {
		Messages []struct {
			Frame json.RawMessage `json:"frame"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(raw, &sc); err != nil {
		f.Fatal(err)
	}
	for _, m := range sc.Messages {
		fr := frameFromJSON(f, m.Frame)
		f.Add(fr)
		f.Add(fr[:len(fr)/2])
	}
	f.Add([]byte{})
	ids := &stubIDs{cur: doc(f, realDID, realKey, realPDS)}
	v := newVerifier(f, ids)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := firehose.DecodeFrame(b)
		if err != nil {
			return
		}
		c, ok := fr.Msg.(*firehose.Commit)
		if !ok {
			return
		}
		if CheckShape(c) != nil {
			return
		}
		for _, lenient := range []bool{false, true} {
			res, err := v.Commit(context.Background(), c, ids.cur, Prior{}, lenient)
			if err == nil && (res.Rev != c.Rev || res.Commit != c.Commit) {
				t.Fatalf("accepted commit with state %+v for event rev %s", res, c.Rev)
			}
			if err != nil && reasonOf(err) == ReasonNone {
				t.Fatalf("rejection without a reason: %v", err)
			}
		}
	})
}

// blockingIDs is stubIDs whose Refresh waits until release is closed.
type blockingIDs struct {
	*stubIDs
	entered chan struct{}
	release chan struct{}
}

func (b *blockingIDs) Refresh(ctx context.Context, did string) (*identity.Identity, error) {
	close(b.entered)
	<-b.release
	return b.stubIDs.Refresh(ctx, did)
}

// TestSlotsFreedDuringRefresh: with one verification slot, a commit whose
// signature forces an identity refresh (network) gives its slot up while it
// waits, so another account's commit is verified meanwhile; the first then
// takes a slot again and passes with the fresh key.
func TestSlotsFreedDuringRefresh(t *testing.T) {
	t.Parallel()
	evs := scenarioCommits(t)
	ids := &blockingIDs{
		stubIDs: &stubIDs{cur: doc(t, realDID, otherKey, realPDS), fresh: doc(t, realDID, realKey, realPDS)},
		entered: make(chan struct{}), release: make(chan struct{}),
	}
	v, err := New(Config{Identities: ids, Slots: 1, Now: func() time.Time { return time.Date(2025, 4, 17, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := v.Commit(t.Context(), evs[0], ids.cur, Prior{}, false)
		first <- err
	}()
	<-ids.entered
	// The only slot must be free: this verification (the right key) passes
	// while the first one still waits on its refresh.
	if _, err := v.Commit(t.Context(), evs[0], doc(t, realDID, realKey, realPDS), Prior{}, false); err != nil {
		t.Fatalf("second commit during the refresh: %v", err)
	}
	close(ids.release)
	if err := <-first; err != nil {
		t.Fatalf("first commit after its refresh: %v", err)
	}
	// A cancelled caller waiting for a slot gives up.
	v.slots <- struct{}{}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := v.Commit(ctx, evs[0], ids.cur, Prior{}, false); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting for a slot after cancel: %v", err)
	}
}

// TestReserve: a reserved slot is not available to verification until it
// is released (twice releasing is harmless).
func TestReserve(t *testing.T) {
	t.Parallel()
	evs := scenarioCommits(t)
	ids := &stubIDs{cur: doc(t, realDID, realKey, realPDS)}
	v, err := New(Config{Identities: ids, Slots: 1, Now: func() time.Time { return time.Date(2025, 4, 17, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	release := v.Reserve()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := v.Commit(ctx, evs[0], ids.cur, Prior{}, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("verification got the reserved slot: %v", err)
	}
	release()
	release()
	if _, err := v.Commit(t.Context(), evs[0], ids.cur, Prior{}, false); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if free := v.Reserve(); free == nil {
		t.Fatal("no release func")
	}
}
