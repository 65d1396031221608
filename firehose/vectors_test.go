package firehose

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// TestRelayScenarios decodes every frame of the indigo relay scenarios and
// re-encodes it from the typed value: the bytes must be identical. No frame in
// the fixtures is marked invalid; one that were would have to fail to decode.
func TestRelayScenarios(t *testing.T) {
	t.Parallel()
	frames := loadScenarioFrames(t)
	if len(frames) != 35 {
		t.Fatalf("got %d scenario frames, want 35", len(frames))
	}
	types := map[string]int{}
	for _, vf := range frames {
		f, err := DecodeFrame(vf.bytes)
		if vf.invalid {
			if err == nil {
				t.Errorf("%s: frame marked invalid decoded", vf.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", vf.name, err)
			continue
		}
		types[f.Type]++
		checkReencode(t, vf, f)
	}
	want := map[string]int{TypeCommit: 25, TypeIdentity: 3, TypeAccount: 6, TypeSync: 1}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("decoded types %v, want %v", types, want)
	}
}

// TestFirehoseCommits does the same for the four real network commits. They
// carry the legacy prev field, which decoding drops: the frame as given must
// decode to the same value as the frame without it.
func TestFirehoseCommits(t *testing.T) {
	t.Parallel()
	for _, vf := range loadFirehoseCommits(t) {
		f, err := DecodeFrame(vf.bytes)
		if err != nil {
			t.Errorf("%s: %v", vf.name, err)
			continue
		}
		checkReencode(t, vf, f)
		g, err := DecodeFrame(vf.raw)
		if err != nil {
			t.Errorf("%s with prev: %v", vf.name, err)
			continue
		}
		if !reflect.DeepEqual(f, g) {
			t.Errorf("%s: the legacy prev field changed the decoded value", vf.name)
		}
	}
}

// checkReencode asserts the frame's bytes, JSON form and seq peek.
func checkReencode(t *testing.T, vf vectorFrame, f Frame) {
	t.Helper()
	got, err := EncodeFrame(f.Msg)
	if err != nil {
		t.Errorf("%s: re-encode: %v", vf.name, err)
		return
	}
	if !bytes.Equal(got, vf.bytes) {
		t.Errorf("%s: re-encoded frame differs\n got %x\nwant %x", vf.name, got, vf.bytes)
	}
	gotJSON, err := f.MarshalJSON()
	if err != nil {
		t.Errorf("%s: JSON: %v", vf.name, err)
		return
	}
	wantJSON, err := dagcbor.ToJSON(vf.json)
	if err != nil {
		t.Fatalf("%s: fixture JSON: %v", vf.name, err)
	}
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("%s: JSON differs\n got %s\nwant %s", vf.name, gotJSON, wantJSON)
	}
	seq, ok, err := PeekSeq(vf.bytes)
	wantSeq, wantOK := f.Seq()
	if err != nil || ok != wantOK || seq != wantSeq {
		t.Errorf("%s: PeekSeq = %d, %v, %v; Seq() = %d, %v", vf.name, seq, ok, err, wantSeq, wantOK)
	}
}

// TestEvidence runs the sync 1.1 proof check on the commits of the fixtures
// whose frames are unaltered network commits: post_lifecycle (with prevData,
// so the ops are inverted) and the four network commits (without).
func TestEvidence(t *testing.T) {
	t.Parallel()
	var frames []vectorFrame
	for _, vf := range loadScenarioFrames(t) {
		if bytes.HasPrefix([]byte(vf.name), []byte("post_lifecycle.json#")) {
			frames = append(frames, vf)
		}
	}
	frames = append(frames, loadFirehoseCommits(t)...)
	if len(frames) != 10 {
		t.Fatalf("got %d commits, want 10", len(frames))
	}
	withPrev := 0
	for _, vf := range frames {
		f, err := DecodeFrame(vf.bytes)
		if err != nil {
			t.Fatalf("%s: %v", vf.name, err)
		}
		c := f.Msg.(*Commit)
		ev := c.Evidence()
		if len(ev.Ops) != len(c.Ops) || ev.Repo != c.Repo || ev.Rev != c.Rev ||
			ev.Commit != c.Commit || ev.PrevData != c.PrevData {
			t.Errorf("%s: evidence %+v does not match the commit", vf.name, ev)
		}
		for i, op := range c.Ops {
			want := repo.Op{Action: repo.Action(op.Action), Path: op.Path, CID: op.CID, Prev: op.Prev}
			if ev.Ops[i] != want {
				t.Errorf("%s: op %d = %+v, want %+v", vf.name, i, ev.Ops[i], want)
			}
		}
		if ev.PrevData.Defined() {
			withPrev++
		}
		if _, err := repo.CheckCommitProof(ev, car.CommitLimits()); err != nil {
			t.Errorf("%s: CheckCommitProof: %v", vf.name, err)
		}
	}
	if withPrev != 6 {
		t.Errorf("%d commits with prevData, want 6", withPrev)
	}
}
