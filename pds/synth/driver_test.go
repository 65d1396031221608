package synth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

func runDriver(t *testing.T, cfg Config) (*Driver, Stats) {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return d, d.Stats()
}

// TestDriverAgainstMemHost runs the driver against a host that validates,
// stores and commits every write, and checks the outcome: every action
// applied, every kind exercised, and the model agreeing with the repos.
func TestDriverAgainstMemHost(t *testing.T) {
	t.Parallel()
	h := newMemHost()
	reg := prometheus.NewRegistry()
	d, s := runDriver(t, Config{Host: h, Users: 12, MaxWrites: 1200, Seed: 42, Now: fixedNow, Workers: 4, Metrics: NewMetrics(reg)})
	if s.Errors != 0 || s.Writes != 1200 {
		t.Fatalf("stats %+v, want 1200 writes and no errors (last error %v)", s, d.stats.lastErr.Load())
	}
	for k := range numKinds {
		if s.ByKind[k.String()] == 0 {
			t.Errorf("no %s action in %v", k, s.ByKind)
		}
	}
	if s.Blobs == 0 || s.Users != 12 || s.Rate <= 0 {
		t.Errorf("stats %+v", s)
	}
	if _, err := h.snapshot(); err != nil {
		t.Fatalf("repos do not check out: %v", err)
	}
	// The model and the repos agree: what the planner believes exists does,
	// and nothing else does (no eviction at this size).
	for _, u := range d.users {
		recs := h.records(u.did)
		want := map[string]bool{profileNSID + "/self": true}
		for _, e := range u.posts.items {
			want[postNSID+"/"+e.key] = true
		}
		for _, e := range u.likes.items {
			want[likeNSID+"/"+e.key] = true
		}
		for _, e := range u.reposts.items {
			want[repostNSID+"/"+e.key] = true
		}
		for _, e := range u.follows.items {
			want[followNSID+"/"+e.key] = true
			if recs[followNSID+"/"+e.key]["subject"] != d.users[e.v.target].did {
				t.Errorf("%s: follow %s does not name user %d", u.handle, e.key, e.v.target)
			}
		}
		for path := range recs {
			if !want[path] {
				t.Errorf("%s: repo has %s, model does not", u.handle, path)
			}
		}
		if len(recs) != len(want) {
			t.Errorf("%s: repo has %d records, model %d", u.handle, len(recs), len(want))
		}
	}
	checkMetrics(t, reg, s)
}

func checkMetrics(t *testing.T, reg *prometheus.Registry, s Stats) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				got[mf.GetName()] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[mf.GetName()] += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				got[mf.GetName()] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"conflux_synth_writes_total":           float64(s.Writes),
		"conflux_synth_errors_total":           float64(s.Errors),
		"conflux_synth_blobs_uploaded_total":   float64(s.Blobs),
		"conflux_synth_users":                  float64(s.Users),
		"conflux_synth_write_duration_seconds": float64(s.Writes),
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("metric %s = %v, want %v", name, got[name], v)
		}
	}
	if got["conflux_synth_blob_bytes_total"] <= 0 {
		t.Errorf("no blob bytes counted")
	}
}

// TestDriverDeterministic: with a fixed clock, the same seed builds the same
// repositories whatever the number of workers (scheduling), and another
// seed builds different ones.
func TestDriverDeterministic(t *testing.T) {
	t.Parallel()
	roots := func(seed int64, workers int) map[string]cid.CID {
		h := newMemHost()
		runDriver(t, Config{Host: h, Users: 6, MaxWrites: 300, Seed: seed, Now: fixedNow, Workers: workers})
		r, err := h.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, c := roots(5, 1), roots(5, 6), roots(6, 3)
	if len(a) != 6 {
		t.Fatalf("%d repos", len(a))
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different repos:\n%v\n%v", a, b)
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same repos")
	}
}

// replay follows a plan in order, knowing what exists after each action.
type replay struct {
	posts map[string]int         // live post URI -> author
	live  map[string]replayedRef // live like/repost/follow URI -> owner and subject
	done  map[string]bool        // actor DID + kind + subject, for no duplicates
}

type replayedRef struct {
	owner   int
	subject string
}

// check returns what is wrong with action a at this point of the plan, or
// "" if nothing is, and applies it.
func (r *replay) check(a *action, did string) string {
	w := a.write
	uri := recordURI(did, w.Collection, w.RKey)
	notLive := func(target string) bool { _, ok := r.posts[target]; return !ok }
	if a.kind >= KindDeletePost && (w.Action != repo.Delete || w.Value != nil) {
		return fmt.Sprintf("a %s with value %v", w.Action, w.Value)
	}
	switch a.kind {
	case KindPost, KindReply, KindQuote:
		reply, _ := w.Value["reply"].(map[string]any)
		if (a.kind == KindReply) != (reply != nil) {
			return fmt.Sprintf("reply field %v", reply)
		}
		if reply != nil && notLive(reply["parent"].(map[string]any)["uri"].(string)) {
			return "reply to a post that is not live"
		}
		if e, ok := w.Value["embed"].(map[string]any); ok {
			rec, _ := e["record"].(map[string]any)
			if inner, ok := rec["record"].(map[string]any); ok { // recordWithMedia
				rec = inner
			}
			if rec != nil && notLive(rec["uri"].(string)) {
				return "quote of a post that is not live"
			}
		}
		r.posts[uri] = a.user
	case KindLike, KindRepost, KindFollow:
		var subject string
		if a.kind == KindFollow {
			subject = w.Value["subject"].(string)
			if subject == did {
				return "self-follow"
			}
		} else if subject = w.Value["subject"].(map[string]any)["uri"].(string); notLive(subject) {
			return "subject is not a live post"
		}
		key := did + a.kind.String() + subject
		if r.done[key] {
			return "duplicate of " + subject
		}
		r.done[key] = true
		r.live[uri] = replayedRef{owner: a.user, subject: subject}
	case KindProfile:
	case KindDeletePost:
		if owner, ok := r.posts[uri]; !ok || owner != a.user {
			return "not a live post of the actor"
		}
		delete(r.posts, uri)
	case KindDeleteLike, KindDeleteRepost, KindDeleteFollow:
		ref, ok := r.live[uri]
		if !ok || ref.owner != a.user {
			return "not a live record of the actor"
		}
		created := map[Kind]Kind{KindDeleteLike: KindLike, KindDeleteRepost: KindRepost, KindDeleteFollow: KindFollow}[a.kind]
		delete(r.done, did+created.String()+ref.subject)
		delete(r.live, uri)
	default:
		return "unknown kind"
	}
	return ""
}

// TestPlannerRespectsModel replays a long plan in order and checks that
// every reference is to a record that exists at that point: likes,
// reposts, quotes and replies target live posts, deletes target the
// actor's own live records, no one likes or reposts the same post twice,
// and no one follows the same user twice.
func TestPlannerRespectsModel(t *testing.T) {
	t.Parallel()
	d, err := New(Config{Host: newMemHost(), Users: 10, Seed: 9, Now: fixedNow,
		Mix: Mix{Post: 10, Reply: 10, Quote: 5, Like: 30, Repost: 10, Follow: 10, Profile: 2, Delete: 25}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.setupUsers(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := replay{posts: map[string]int{}, live: map[string]replayedRef{}, done: map[string]bool{}}
	kinds := map[Kind]int{}
	for i := range 5000 {
		a := d.plan()
		kinds[a.kind]++
		if msg := r.check(a, d.users[a.user].did); msg != "" {
			t.Fatalf("action %d (%s by user %d): %s", i, a.kind, a.user, msg)
		}
	}
	for k := range numKinds {
		if kinds[k] == 0 {
			t.Errorf("the plan has no %s", k)
		}
	}
}

// TestDriverCountsRaces: a host that fails some creates leaves records the
// model believes in; deleting them later fails with ErrNotFound, which is
// counted as a race. Every planned action is accounted for.
func TestDriverCountsRaces(t *testing.T) {
	t.Parallel()
	h := newMemHost()
	var injected atomic.Int64
	h.failCreate = func(w Write) bool {
		if w.Collection == profileNSID {
			return false
		}
		b := recordCID(w.Value).Bytes()
		if b[len(b)-1]%4 == 0 { // a quarter of creates, picked by content
			injected.Add(1)
			return true
		}
		return false
	}
	const n = 1500
	_, s := runDriver(t, Config{Host: h, Users: 4, MaxWrites: n, Seed: 3, Now: fixedNow,
		Mix: Mix{Post: 30, Like: 20, Follow: 5, Delete: 45}})
	if s.NotFound == 0 {
		t.Fatalf("no not-found races counted: %+v", s)
	}
	if s.Errors != injected.Load()+s.NotFound || s.Mismatch != 0 {
		t.Fatalf("errors %d, want %d injected + %d not found: %+v", s.Errors, injected.Load(), s.NotFound, s)
	}
	if s.Writes+s.Errors != n {
		t.Fatalf("writes %d + errors %d != %d planned", s.Writes, s.Errors, n)
	}
	if _, err := h.snapshot(); err != nil {
		t.Fatal(err)
	}
}

// TestDriverReusesAccounts: given accounts are used as they are (no
// account is created for them); a profile of unknown state is written as an
// update that falls back to a create.
func TestDriverReusesAccounts(t *testing.T) {
	t.Parallel()
	h := newMemHost()
	var accounts []Account
	for _, handle := range []string{"Old-One.test", "old-two.test"} {
		did, err := h.CreateAccount(t.Context(), handle, "pw")
		if err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, Account{DID: did, Handle: handle})
	}
	// old-two already has a profile, so its update must not fall back.
	if _, err := h.ApplyWrites(t.Context(), accounts[1].DID, []Write{{Action: repo.Create, Collection: profileNSID,
		RKey: "self", Value: map[string]any{"$type": profileNSID, "displayName": "Old"}}}); err != nil {
		t.Fatal(err)
	}
	_, s := runDriver(t, Config{Host: h, Users: 3, Accounts: accounts, MaxWrites: 60, Seed: 1, Now: fixedNow,
		Mix: Mix{Post: 1, Profile: 3}})
	if s.Errors != 0 || s.Writes != 60 || s.ByKind["profile"] == 0 {
		t.Fatalf("stats %+v", s)
	}
	if len(h.handles) != 3 {
		t.Fatalf("host has %d accounts, want 2 reused + 1 created", len(h.handles))
	}
	for _, a := range accounts {
		p := h.records(a.DID)[profileNSID+"/self"]
		if p == nil || p["displayName"] == "Old" {
			t.Errorf("%s: profile %v was not written by the driver", a.Handle, p)
		}
	}
}

// TestDriverRateAndStop: a paced run plans exactly MaxWrites actions; a run
// without MaxWrites stops cleanly when its context ends.
func TestDriverRateAndStop(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	_, s := runDriver(t, Config{Host: newMemHost(), Users: 3, Rate: 2000, MaxWrites: 40, Seed: 2, Logger: logger})
	if s.Writes != 40 || s.Errors != 0 {
		t.Fatalf("paced run: %+v", s)
	}
	for _, want := range []string{"msg=\"synth started\" component=synth users=3 rate=2000", "msg=\"synth stopped\" component=synth writes=40 errors=0"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	h := newMemHost()
	ctx, cancel := context.WithCancel(t.Context())
	var applied atomic.Int64
	h.afterApply = func() {
		if applied.Add(1) == 25 {
			cancel()
		}
	}
	d, err := New(Config{Host: h, Users: 3, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(ctx); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	s = d.Stats()
	if s.Writes < 24 || s.Errors != 0 {
		t.Fatalf("cancelled run: %+v (applied %d)", s, applied.Load())
	}
	if err := d.Run(t.Context()); err == nil {
		t.Fatal("second Run succeeded")
	}
}

func TestDriverSetupFailure(t *testing.T) {
	t.Parallel()
	d, err := New(Config{Host: newMemHost(), Users: 2, HandleDomain: "example", MaxWrites: 5})
	if err != nil {
		t.Fatal(err)
	}
	// memHost refuses the reserved .example TLD, as a PDS would.
	if err := d.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "create account") {
		t.Fatalf("Run = %v, want a create-account error", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	h := newMemHost()
	for name, cfg := range map[string]Config{
		"no host":         {Users: 1},
		"no users":        {Host: h},
		"negative rate":   {Host: h, Users: 1, Rate: -1},
		"bad mix":         {Host: h, Users: 1, Mix: Mix{Post: -1, Like: 2}},
		"bad domain":      {Host: h, Users: 1, HandleDomain: "no_underscores"},
		"bad account":     {Host: h, Users: 1, Accounts: []Account{{DID: "nope", Handle: "a.test"}}},
		"too few users":   {Host: h, Users: 1, Accounts: []Account{{DID: "did:plc:a", Handle: "a.test"}, {DID: "did:plc:b", Handle: "b.test"}}},
		"negative writes": {Host: h, Users: 1, MaxWrites: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
	d, err := New(Config{Host: h, Accounts: []Account{{DID: "did:plc:a", Handle: "a.test"}}})
	if err != nil || d.cfg.Users != 1 || d.cfg.Workers != 1 || d.cfg.Mix != DefaultMix() {
		t.Fatalf("defaults: %v %+v", err, d.cfg)
	}
}

// TestPacerCounts runs the token bucket on a simulated clock, where sleeping
// advances time instead of waiting: the number of tokens granted in a span
// of simulated time is the rate times the span, plus at most the burst.
func TestPacerCounts(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{1, 37, 1000, 25000} {
		p := newPacer(rate)
		now := time.Unix(1000, 0)
		p.now = func() time.Time { return now }
		p.sleep = func(_ context.Context, d time.Duration) error {
			now = now.Add(d)
			return nil
		}
		start := now
		const span = 10 * time.Second
		n := 0
		for now.Sub(start) < span {
			if err := p.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			n++
		}
		want := rate * span.Seconds()
		if float64(n) < want || float64(n) > want+p.burst+1 {
			t.Errorf("rate %v: %d tokens in %v, want %v (+ burst %v)", rate, n, span, want, p.burst)
		}
		// After idling, at most a burst is available at once.
		now = now.Add(time.Hour)
		burst := 0
		at := now
		for now == at {
			if err := p.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			burst++
		}
		if float64(burst) > p.burst+1 {
			t.Errorf("rate %v: %d tokens without waiting after idle, burst %v", rate, burst, p.burst)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := newPacer(5).wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait on a cancelled context = %v", err)
	}
	if err := newPacer(0).wait(t.Context()); err != nil {
		t.Fatalf("unpaced wait = %v", err)
	}
}

// BenchmarkPlan is the planner alone: choosing an action, generating its
// record and computing its CID, without a host.
func BenchmarkPlan(b *testing.B) {
	d, err := New(Config{Host: newMemHost(), Users: 100, Seed: 1, Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.setupUsers(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		d.plan()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
