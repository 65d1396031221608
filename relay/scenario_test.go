package relay

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

const scenarioDir = "../../shared/testdata/indigo/relay-scenarios"

type scenario struct {
	Lenient  bool `json:"lenient"`
	Accounts []struct {
		Identity struct {
			DID      string `json:"did"`
			Handle   string `json:"handle"`
			Services map[string]struct {
				URL string `json:"url"`
			} `json:"services"`
			Keys map[string]struct {
				PublicKeyMultibase string `json:"publicKeyMultibase"`
			} `json:"keys"`
		} `json:"identity"`
		Status string `json:"status"`
	} `json:"accounts"`
	Messages []struct {
		Frame   json.RawMessage `json:"frame"`
		Drop    bool            `json:"drop"`
		Invalid bool            `json:"invalid"`
		Update  bool            `json:"update"`
	} `json:"messages"`
}

// scenarioFrame builds a message's wire frame from the fixture JSON. The
// fixtures were dumped with encoding/json, which writes an empty blobs slice
// as null; the wire form is an empty array.
func scenarioFrame(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	v, err := dagcbor.ObjectFromJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := v["header"].(map[string]any)
	body, _ := v["body"].(map[string]any)
	if b, ok := body["blobs"]; ok && b == nil {
		body["blobs"] = []any{}
	}
	h, err := dagcbor.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dagcbor.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return append(h, b...)
}

// TestScenarios feeds each indigo relay scenario from a host its accounts'
// identities point at, and checks the relay emits exactly the frames not
// marked drop, in order, under its own seqs 1..n.
func TestScenarios(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.json"))
	if err != nil || len(files) != 7 {
		t.Fatalf("want 7 scenarios in %s, got %d (%v)", scenarioDir, len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			runScenario(t, file)
		})
	}
}

func runScenario(t *testing.T, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	if err := json.Unmarshal(raw, &sc); err != nil {
		t.Fatal(err)
	}
	var frames, want [][]byte
	var update []bool
	var maxSeq int64
	for _, m := range sc.Messages {
		f := scenarioFrame(t, m.Frame)
		frames = append(frames, f)
		if seq, ok, _ := firehose.PeekSeq(f); ok && seq > maxSeq {
			maxSeq = seq
		}
		if !m.Drop && !m.Invalid {
			want = append(want, f)
			update = append(update, m.Update)
		}
	}
	host := newFrameHost(t, frames)
	plc := newPLC(t)
	for _, a := range sc.Accounts {
		id := a.Identity
		plc.set(id.DID, id.Handle, id.Keys["atproto"].PublicKeyMultibase, host.URL)
	}
	r := startRelay(t, Config{PLCURL: plc.URL})
	if err := r.AddHost(t.Context(), "ws://"+host.hostname(), HostOptions{Lenient: sc.Lenient}); err != nil {
		t.Fatal(err)
	}
	waitHostCursor(t, r, host.hostname(), maxSeq)
	got := emitted(t, r)
	drops, warns := r.Counts()
	t.Logf("drops %v warnings %v", drops, warns)
	if len(got) != len(want) {
		t.Fatalf("relay emitted %d frames, want %d", len(got), len(want))
	}
	for i, ev := range got {
		if ev.Seq != int64(i+1) {
			t.Errorf("frame %d has seq %d, want %d", i, ev.Seq, i+1)
		}
		compareFrame(t, i, ev.Frame, want[i], update[i])
	}
}

// compareFrame compares bodies without seq; an "update" frame (a field the
// relay recomputes, such as #account) is compared on its meaning.
func compareFrame(t *testing.T, i int, got, want []byte, update bool) {
	t.Helper()
	g, err := firehose.DecodeFrame(got)
	if err != nil {
		t.Fatalf("frame %d: %v", i, err)
	}
	w, err := firehose.DecodeFrame(want)
	if err != nil {
		t.Fatalf("fixture frame %d: %v", i, err)
	}
	if g.Type != w.Type {
		t.Fatalf("frame %d is %s, want %s", i, g.Type, w.Type)
	}
	if update {
		ga, ok1 := g.Msg.(*firehose.Account)
		wa, ok2 := w.Msg.(*firehose.Account)
		if !ok1 || !ok2 {
			t.Fatalf("frame %d: update only expected on #account", i)
		}
		if ga.DID != wa.DID || ga.Active != wa.Active || ga.Status != wa.Status {
			t.Errorf("frame %d: #account %+v, want %+v", i, ga, wa)
		}
		return
	}
	if !bytes.Equal(withSeq0(t, g), withSeq0(t, w)) {
		t.Errorf("frame %d (%s) differs from the fixture beyond seq", i, g.Type)
	}
}

func withSeq0(t *testing.T, f firehose.Frame) []byte {
	t.Helper()
	switch m := f.Msg.(type) {
	case *firehose.Commit:
		m.Seq = 0
	case *firehose.Sync:
		m.Seq = 0
	case *firehose.Identity:
		m.Seq = 0
	case *firehose.Account:
		m.Seq = 0
	}
	b, err := firehose.EncodeFrame(f.Msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
