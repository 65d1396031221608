package interop

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// syncLine is one line of sync-consumer.mjs: an event as the wire carried
// it and as the library emitted it, an error, or the closing summary.
type syncLine struct {
	Type string `json:"type"`
	Seq  int64  `json:"seq"`
	DID  string `json:"did"`
	Rev  string `json:"rev"`

	// #commit and #sync: the commit object read from the event's CAR.
	CommitData string `json:"commitData"`
	CommitRoot string `json:"commitRoot"`
	CommitRev  string `json:"commitRev"`
	CommitDID  string `json:"commitDid"`

	// #commit
	Commit      string   `json:"commit"`
	Since       *string  `json:"since"`
	PrevData    *string  `json:"prevData"`
	HasPrevData bool     `json:"hasPrevData"`
	TooBig      bool     `json:"tooBig"`
	Ops         []syncOp `json:"ops"`     // on the wire
	Emitted     []syncOp `json:"emitted"` // what the library handed on

	// #identity: whether the library resolved the DID document.
	Resolved bool `json:"resolved"`
	// #account, #sync: how many events the library passed on.
	EmittedCount int    `json:"emittedCount"`
	Status       string `json:"status"`

	// error
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Message string   `json:"message"`
	Causes  []string `json:"causes"`

	// done
	Reason  string `json:"reason"`
	Events  int    `json:"events"`
	Errors  int    `json:"errors"`
	LastSeq int64  `json:"lastSeq"`
}

type syncOp struct {
	Action string  `json:"action"`
	Path   string  `json:"path"`
	CID    *string `json:"cid"`
}

func (o syncOp) String() string {
	c := "null"
	if o.CID != nil {
		c = *o.CID
	}
	return o.Action + " " + o.Path + " " + c
}

// streamSummary is what checkSyncStream learned from a whole stream.
type streamSummary struct {
	events  int
	ops     int
	byType  map[string]int
	repos   map[string]map[string]string // DID -> path -> CID, rebuilt from emitted ops
	lastSeq int64
}

// checkSyncStream reports every problem analyzeSyncStream finds.
func checkSyncStream(t *testing.T, label string, lines []json.RawMessage) streamSummary {
	t.Helper()
	s, problems := analyzeSyncStream(lines)
	for i, p := range problems {
		if i == 20 {
			t.Errorf("%s: %d more problems", label, len(problems)-20)
			break
		}
		t.Errorf("%s: %s", label, p)
	}
	return s
}

// analyzeSyncStream checks everything the reference consumer's output must
// satisfy and rebuilds every repository from the ops the library emitted:
// no error of any kind; seq strictly increasing; every op on the wire
// emitted (the library drops ops whose proof or block is missing without
// an error); each commit's CAR root, rev and DID agreeing with the event;
// the sync 1.1 chain (a DID's first commit has no prevData, every later one
// names the data CID of the one before; #sync restarts the chain); every
// #identity's DID document resolved through our PLC directory; every
// #account passed on; a closing line saying the consumer reached its
// target seq.
func analyzeSyncStream(lines []json.RawMessage) (streamSummary, []string) {
	s := streamSummary{byType: map[string]int{}, repos: map[string]map[string]string{}, lastSeq: -1}
	lastData := map[string]string{}
	var done *syncLine
	var problems []string
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, raw := range lines {
		var l syncLine
		if err := json.Unmarshal(raw, &l); err != nil {
			errorf("bad line %s: %v", raw, err)
			continue
		}
		switch l.Type {
		case "error":
			errorf("reference consumer reported %s: %s: %s %v (seq %d)", l.Kind, l.Name, l.Message, l.Causes, l.Seq)
			continue
		case "stdout":
			errorf("unexpected output: %s", raw)
			continue
		case "done":
			done = &l
			continue
		}
		s.events++
		s.byType[l.Type]++
		if l.Seq <= s.lastSeq {
			errorf("seq %d after %d: not strictly increasing", l.Seq, s.lastSeq)
		}
		s.lastSeq = l.Seq
		switch l.Type {
		case "commit":
			checkCommitLine(&l, lastData, s.repos, errorf)
			s.ops += len(l.Ops)
		case "sync":
			if l.CommitDID != l.DID || l.CommitRev != l.Rev {
				errorf("seq %d #sync: CAR commit did=%s rev=%s, event did=%s rev=%s", l.Seq, l.CommitDID, l.CommitRev, l.DID, l.Rev)
			}
			if l.EmittedCount != 1 {
				errorf("seq %d #sync: the library passed on %d events", l.Seq, l.EmittedCount)
			}
			lastData[l.DID] = l.CommitData
		case "identity":
			if !l.Resolved {
				errorf("seq %d #identity: the library did not resolve %s through the PLC directory", l.Seq, l.DID)
			}
		case "account":
			if l.EmittedCount != 1 {
				errorf("seq %d #account (status %q): the library passed on %d events", l.Seq, l.Status, l.EmittedCount)
			}
		case "info":
		default:
			errorf("seq %d: unexpected event type %q", l.Seq, l.Type)
		}
	}
	switch {
	case done == nil:
		errorf("the consumer did not finish (no done line)")
	case done.Reason != "until" || done.Errors != 0:
		errorf("consumer finished with reason %q after %d events, %d errors, last seq %d", done.Reason, done.Events, done.Errors, done.LastSeq)
	}
	return s, problems
}

// checkCommitLine checks one #commit and applies its emitted ops to repos.
func checkCommitLine(l *syncLine, lastData map[string]string, repos map[string]map[string]string, errorf func(string, ...any)) {
	if l.CommitRoot != l.Commit || l.CommitRev != l.Rev || l.CommitDID != l.DID {
		errorf("seq %d: CAR root %s rev %s did %s, event commit %s rev %s repo %s",
			l.Seq, l.CommitRoot, l.CommitRev, l.CommitDID, l.Commit, l.Rev, l.DID)
	}
	if l.TooBig {
		errorf("seq %d: tooBig set", l.Seq)
	}
	if !slices.EqualFunc(l.Ops, l.Emitted, func(a, b syncOp) bool { return a.String() == b.String() }) {
		errorf("seq %d (%s): the library emitted %v of the ops %v", l.Seq, l.DID, l.Emitted, l.Ops)
	}
	prev, seen := lastData[l.DID]
	switch {
	case !seen && l.HasPrevData:
		errorf("seq %d: first commit of %s has prevData %s", l.Seq, l.DID, *l.PrevData)
	case !seen && l.Since != nil:
		errorf("seq %d: first commit of %s has since %s", l.Seq, l.DID, *l.Since)
	case seen && !l.HasPrevData:
		errorf("seq %d: commit of %s without prevData (previous data %s)", l.Seq, l.DID, prev)
	case seen && *l.PrevData != prev:
		errorf("seq %d: prevData %s of %s, previous commit's data is %s", l.Seq, *l.PrevData, l.DID, prev)
	}
	lastData[l.DID] = l.CommitData
	repo := repos[l.DID]
	if repo == nil {
		repo = map[string]string{}
		repos[l.DID] = repo
	}
	for _, op := range l.Emitted {
		_, exists := repo[op.Path]
		switch {
		case op.Action == "create" && !exists && op.CID != nil,
			op.Action == "update" && exists && op.CID != nil:
			repo[op.Path] = *op.CID
		case op.Action == "delete" && exists:
			delete(repo, op.Path)
		default:
			errorf("seq %d: op %v does not apply (record exists: %v)", l.Seq, op, exists)
		}
	}
}

// checkRepos compares repositories rebuilt from the stream with the hosts'.
func checkRepos(t *testing.T, label string, got map[string]map[string]string, hosts ...*host) {
	t.Helper()
	want := map[string]map[string]string{}
	records := 0
	for _, h := range hosts {
		for did, recs := range repoContents(t, h) {
			want[did] = recs
			records += len(recs)
		}
	}
	if records == 0 {
		t.Fatalf("%s: the hosts hold no records: the test wrote nothing", label)
	}
	for did, w := range want {
		g := got[did]
		if g == nil {
			g = map[string]string{}
		}
		if !maps.Equal(g, w) {
			missing, extra := 0, 0
			for p, c := range w {
				if g[p] != c {
					missing++
				}
			}
			for p := range g {
				if _, ok := w[p]; !ok {
					extra++
				}
			}
			t.Errorf("%s: %s rebuilt from the stream differs from the host's repo: %d records missing or different, %d extra (of %d)", label, did, missing, extra, len(w))
		}
	}
	for did := range got {
		if _, ok := want[did]; !ok {
			t.Errorf("%s: stream has commits of %s, no host has it", label, did)
		}
	}
}

// TestSyncConsumerOnPDS: the reference consumer reads a Conflux host's
// firehose live while synthetic activity runs, then replays it from 0.
func TestSyncConsumerOnPDS(t *testing.T) {
	nodeBinary(t)
	t.Parallel()
	plcURL := startPLC(t)
	h := startHost(t, plcURL, "pds.test")

	live := startNode(t, "sync-consumer.mjs", "--service", h.wsURL(), "--plc", plcURL, "--until-seq", "stdin")
	waitFor(t, "the live consumer to subscribe", func() bool {
		return metric(t, h.reg, "conflux_subscribe_subscribers") >= 1
	})
	if err := drive(t.Context(), h, 8, 400, 1); err != nil {
		t.Fatal(err)
	}
	// Account lifecycle events too: one account deactivated, then back.
	accts, err := h.pds.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.pds.DeactivateAccount(t.Context(), accts[0].DID); err != nil {
		t.Fatal(err)
	}
	if err := h.pds.ActivateAccount(t.Context(), accts[0].DID); err != nil {
		t.Fatal(err)
	}
	head := h.head(t)
	live.send(strconv.FormatInt(head, 10))
	liveLines := live.wait()
	ls := checkSyncStream(t, "pds live", liveLines)
	checkRepos(t, "pds live", ls.repos, h)

	replay := startNode(t, "sync-consumer.mjs", "--service", h.wsURL(), "--plc", plcURL, "--cursor", "0", "--until-seq", strconv.FormatInt(head, 10))
	replayLines := replay.wait()
	rs := checkSyncStream(t, "pds replay", replayLines)
	checkRepos(t, "pds replay", rs.repos, h)

	// A host's log has every seq from 1 to its head, and a replay is the
	// live stream again, line for line.
	if rs.events != int(head) || rs.lastSeq != head {
		t.Errorf("replay: %d events up to seq %d, host head %d", rs.events, rs.lastSeq, head)
	}
	if !slices.EqualFunc(eventLines(liveLines), eventLines(replayLines), func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
		t.Errorf("live and replay streams differ")
	}
	t.Logf("pds: %d events %v, %d ops; host head %d", rs.events, rs.byType, rs.ops, head)

	// The library's own failures reach the test: against a PLC directory
	// that knows none of these DIDs, no signature can be checked.
	blind := startNode(t, "sync-consumer.mjs", "--service", h.wsURL(), "--plc", startPLC(t), "--cursor", "0", "--until-seq", strconv.FormatInt(head, 10))
	_, problems := analyzeSyncStream(blind.wait())
	if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, "reported FirehoseParseError") }) {
		t.Errorf("with an empty PLC directory the consumer reported no parse error; problems: %.5q", problems)
	}
}

// TestSyncConsumerOnRelay: the reference consumer reads the relay fed by
// two Conflux hosts with concurrent synthetic activity, live then from 0.
func TestSyncConsumerOnRelay(t *testing.T) {
	nodeBinary(t)
	t.Parallel()
	plcURL := startPLC(t)
	ha := startHost(t, plcURL, "a.test")
	hb := startHost(t, plcURL, "b.test")
	r, relayURL, reg := startRelay(t, plcURL, ha, hb)

	live := startNode(t, "sync-consumer.mjs", "--service", wsOf(relayURL), "--plc", plcURL, "--until-seq", "stdin")
	waitFor(t, "the live consumer to subscribe", func() bool {
		return metric(t, reg, "conflux_subscribe_subscribers") >= 1
	})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, h := range []*host{ha, hb} {
		wg.Go(func() { errs[i] = drive(t.Context(), h, 6, 250, int64(10+i)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitRelayCaughtUp(t, r, ha, hb)
	head := r.Head()
	live.send(strconv.FormatInt(head, 10))
	ls := checkSyncStream(t, "relay live", live.wait())
	checkRepos(t, "relay live", ls.repos, ha, hb)

	replay := startNode(t, "sync-consumer.mjs", "--service", wsOf(relayURL), "--plc", plcURL, "--cursor", "0", "--until-seq", strconv.FormatInt(head, 10))
	rs := checkSyncStream(t, "relay replay", replay.wait())
	checkRepos(t, "relay replay", rs.repos, ha, hb)
	if rs.lastSeq != head || rs.events != ls.events {
		t.Errorf("replay: %d events up to seq %d; live: %d events; relay head %d", rs.events, rs.lastSeq, ls.events, head)
	}
	wantEvents := int(ha.head(t) + hb.head(t))
	if rs.events != wantEvents {
		t.Errorf("relay re-emitted %d events, the hosts emitted %d", rs.events, wantEvents)
	}
	if drops, _ := r.Counts(); len(drops) > 0 {
		t.Errorf("relay dropped events: %v", drops)
	}
	t.Logf("relay: %d events %v, %d ops; relay head %d", rs.events, rs.byType, rs.ops, head)
}

// eventLines drops the closing summary, which differs between runs.
func eventLines(lines []json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(lines))
	for _, l := range lines {
		var v struct{ Type string }
		if json.Unmarshal(l, &v) == nil && v.Type != "done" {
			out = append(out, l)
		}
	}
	return out
}

// TestAnalyzeSyncStream shows the checker catches each kind of fault in a
// stream (it needs no Node): a valid stream passes, and each mutation of it
// is reported.
func TestAnalyzeSyncStream(t *testing.T) {
	t.Parallel()
	const did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	valid := func() []map[string]any {
		op := map[string]any{"action": "create", "path": "app.bsky.feed.post/3k", "cid": "bafyrec"}
		return []map[string]any{
			{"type": "identity", "seq": 1, "did": did, "resolved": true},
			{"type": "account", "seq": 2, "did": did, "emittedCount": 1},
			{"type": "commit", "seq": 3, "did": did, "rev": "r1", "commit": "c1", "commitRoot": "c1", "commitRev": "r1", "commitDid": did,
				"commitData": "d0", "prevData": nil, "hasPrevData": false, "ops": []any{}, "emitted": []any{}},
			{"type": "commit", "seq": 4, "did": did, "rev": "r2", "commit": "c2", "commitRoot": "c2", "commitRev": "r2", "commitDid": did,
				"commitData": "d1", "prevData": "d0", "hasPrevData": true, "since": "r1", "ops": []any{op}, "emitted": []any{op}},
			{"type": "done", "reason": "until", "events": 4, "errors": 0, "lastSeq": 4},
		}
	}
	encode := func(ls []map[string]any) []json.RawMessage {
		out := make([]json.RawMessage, len(ls))
		for i, l := range ls {
			b, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = b
		}
		return out
	}
	s, problems := analyzeSyncStream(encode(valid()))
	if len(problems) > 0 || s.events != 4 || s.ops != 1 || s.repos[did]["app.bsky.feed.post/3k"] != "bafyrec" {
		t.Fatalf("valid stream: %+v, problems %v", s, problems)
	}
	cases := []struct {
		name, want string
		edit       func(ls []map[string]any) []map[string]any
	}{
		{"dropped op", "emitted", func(ls []map[string]any) []map[string]any { ls[3]["emitted"] = []any{}; return ls }},
		{"wrong prevData", "previous commit's data", func(ls []map[string]any) []map[string]any { ls[3]["prevData"] = "dx"; return ls }},
		{"no prevData", "without prevData", func(ls []map[string]any) []map[string]any {
			ls[3]["prevData"], ls[3]["hasPrevData"] = nil, false
			return ls
		}},
		{"genesis with prevData", "first commit", func(ls []map[string]any) []map[string]any {
			ls[2]["prevData"], ls[2]["hasPrevData"] = "dz", true
			return ls
		}},
		{"seq repeats", "strictly", func(ls []map[string]any) []map[string]any { ls[3]["seq"] = 3; return ls }},
		{"library error", "reported", func(ls []map[string]any) []map[string]any {
			return append(ls[:4:4], map[string]any{"type": "error", "kind": "FirehoseParseError", "message": "bad sig"}, ls[4])
		}},
		{"idle finish", "reason", func(ls []map[string]any) []map[string]any { ls[4]["reason"] = "idle"; return ls }},
		{"no finish", "did not finish", func(ls []map[string]any) []map[string]any { return ls[:4] }},
		{"unresolved DID", "resolve", func(ls []map[string]any) []map[string]any { ls[0]["resolved"] = false; return ls }},
		{"account swallowed", "passed on", func(ls []map[string]any) []map[string]any { ls[1]["emittedCount"] = 0; return ls }},
		{"CAR root differs", "CAR root", func(ls []map[string]any) []map[string]any { ls[3]["commitRoot"] = "cx"; return ls }},
		{"create twice", "does not apply", func(ls []map[string]any) []map[string]any {
			ls[2]["ops"], ls[2]["emitted"] = ls[3]["ops"], ls[3]["emitted"]
			return ls
		}},
	}
	for _, c := range cases {
		_, problems := analyzeSyncStream(encode(c.edit(valid())))
		found := false
		for _, p := range problems {
			found = found || strings.Contains(p, c.want)
		}
		if !found {
			t.Errorf("%s: no problem mentioning %q in %v", c.name, c.want, problems)
		}
	}
}
