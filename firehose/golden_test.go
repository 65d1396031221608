package firehose

import (
	"bytes"
	"encoding/hex"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

var update = flag.Bool("update", false, "rewrite the golden frames in testdata/golden")

func link(s string) cid.CID { return cid.Sum(cid.DagCBOR, []byte(s)) }

// sample is a message, its golden file name and the same frame as generic
// values, which dagcbor (fxamacker with canonical key order) encodes
// independently of this package's hand-written encoder.
type sample struct {
	name string
	msg  Message
	hdr  map[string]any
	body map[string]any
}

func samples() []sample {
	rec1, rec2, rec3 := link("record 1"), link("record 2"), link("record 3")
	commitCID, data := link("commit"), link("prev data")
	blocks := []byte("\x3a\xa2eroots... a CAR slice stands here")
	hdr := func(t string) map[string]any { return map[string]any{"t": t, "op": int64(1)} }
	errHdr := map[string]any{"op": int64(-1)}
	return []sample{
		{
			name: "commit",
			msg: &Commit{
				Seq: 35941522, Repo: "did:plc:44ybard66vv44zksje25o7dz", Commit: commitCID,
				Rev: "3lmxjza3nva27", Since: "3lmxjxi3hjn23", Blocks: blocks,
				Ops: []RepoOp{
					{Action: "create", Path: "app.bsky.feed.like/3lmxjza3h2i27", CID: rec1},
					{Action: "update", Path: "app.bsky.actor.profile/self", CID: rec2, Prev: rec3},
					{Action: "delete", Path: "app.bsky.feed.post/3lmxjzlexp22k", Prev: rec1},
				},
				PrevData: data, Time: "2025-04-16T21:30:26.717Z",
			},
			hdr: hdr(TypeCommit),
			body: map[string]any{
				"seq": int64(35941522), "rebase": false, "tooBig": false,
				"repo": "did:plc:44ybard66vv44zksje25o7dz", "commit": commitCID,
				"rev": "3lmxjza3nva27", "since": "3lmxjxi3hjn23", "blocks": blocks,
				"ops": []any{
					map[string]any{"action": "create", "path": "app.bsky.feed.like/3lmxjza3h2i27", "cid": rec1},
					map[string]any{"action": "update", "path": "app.bsky.actor.profile/self", "cid": rec2, "prev": rec3},
					map[string]any{"action": "delete", "path": "app.bsky.feed.post/3lmxjzlexp22k", "cid": nil, "prev": rec1},
				},
				"blobs": []any{}, "prevData": data, "time": "2025-04-16T21:30:26.717Z",
			},
		},
		{
			// A first commit: since null, no prevData; and the deprecated
			// fields set, to pin their place.
			name: "commit_first",
			msg: &Commit{
				Seq: 1, Rebase: true, TooBig: true, Repo: "did:plc:first", Commit: commitCID,
				Rev: "2222222222222", Blobs: []cid.CID{rec1}, Time: "2025-01-01T00:00:00.000Z",
			},
			hdr: hdr(TypeCommit),
			body: map[string]any{
				"seq": int64(1), "rebase": true, "tooBig": true, "repo": "did:plc:first",
				"commit": commitCID, "rev": "2222222222222", "since": nil, "blocks": []byte{},
				"ops": []any{}, "blobs": []any{rec1}, "time": "2025-01-01T00:00:00.000Z",
			},
		},
		{
			name: "sync",
			msg:  &Sync{Seq: 130, DID: "did:plc:vvpy7d6y2li5yo73cgbszibl", Rev: "3lmxrbvasth2t", Blocks: blocks, Time: "2025-04-16T23:40:33.897Z"},
			hdr:  hdr(TypeSync),
			body: map[string]any{
				"seq": int64(130), "did": "did:plc:vvpy7d6y2li5yo73cgbszibl", "rev": "3lmxrbvasth2t",
				"blocks": blocks, "time": "2025-04-16T23:40:33.897Z",
			},
		},
		{
			name: "identity",
			msg:  &Identity{Seq: 110, DID: "did:plc:vvpy7d6y2li5yo73cgbszibl", Time: "2025-04-16T23:40:33.895Z", Handle: "pengua.bsky.social"},
			hdr:  hdr(TypeIdentity),
			body: map[string]any{
				"seq": int64(110), "did": "did:plc:vvpy7d6y2li5yo73cgbszibl",
				"time": "2025-04-16T23:40:33.895Z", "handle": "pengua.bsky.social",
			},
		},
		{
			name: "identity_nohandle",
			msg:  &Identity{Seq: 1 << 40, DID: "did:web:example.com", Time: "2025-04-16T23:40:33.895Z"},
			hdr:  hdr(TypeIdentity),
			body: map[string]any{"seq": int64(1 << 40), "did": "did:web:example.com", "time": "2025-04-16T23:40:33.895Z"},
		},
		{
			name: "account",
			msg:  &Account{Seq: 120, DID: "did:plc:vvpy7d6y2li5yo73cgbszibl", Time: "2025-04-16T23:40:33.895Z", Active: true},
			hdr:  hdr(TypeAccount),
			body: map[string]any{"seq": int64(120), "did": "did:plc:vvpy7d6y2li5yo73cgbszibl", "time": "2025-04-16T23:40:33.895Z", "active": true},
		},
		{
			name: "account_status",
			msg:  &Account{Seq: 140, DID: "did:plc:vvpy7d6y2li5yo73cgbszibl", Time: "2025-04-16T23:41:33.895Z", Status: "deleted"},
			hdr:  hdr(TypeAccount),
			body: map[string]any{
				"seq": int64(140), "did": "did:plc:vvpy7d6y2li5yo73cgbszibl",
				"time": "2025-04-16T23:41:33.895Z", "active": false, "status": "deleted",
			},
		},
		{
			name: "info",
			msg:  &Info{Name: InfoOutdatedCursor, Message: "Requested cursor exceeded limit. Possibly missing events"},
			hdr:  hdr(TypeInfo),
			body: map[string]any{"name": "OutdatedCursor", "message": "Requested cursor exceeded limit. Possibly missing events"},
		},
		{
			name: "info_bare",
			msg:  &Info{Name: InfoOutdatedCursor},
			hdr:  hdr(TypeInfo),
			body: map[string]any{"name": "OutdatedCursor"},
		},
		{
			name: "error",
			msg:  &ErrorFrame{Error: ErrNameFutureCursor, Message: "Cursor in the future."},
			hdr:  errHdr,
			body: map[string]any{"error": "FutureCursor", "message": "Cursor in the future."},
		},
		{
			name: "error_bare",
			msg:  &ErrorFrame{Error: ErrNameConsumerTooSlow},
			hdr:  errHdr,
			body: map[string]any{"error": "ConsumerTooSlow"},
		},
	}
}

// TestGolden checks each message's frame against its golden file and against
// dagcbor's independent encoding of the same frame, and decodes it back.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, s := range samples() {
		got, err := EncodeFrame(s.msg)
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		want := concat(mustMarshal(t, s.hdr), mustMarshal(t, s.body))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: frame differs from dagcbor's encoding\n got %x\nwant %x", s.name, got, want)
		}
		checkGoldenFile(t, s.name, got)
		f, err := DecodeFrame(got)
		if err != nil {
			t.Errorf("%s: decode: %v", s.name, err)
			continue
		}
		wantOp, wantType := int64(OpMessage), s.msg.frameType()
		if _, ok := s.msg.(*ErrorFrame); ok {
			wantOp = OpError
		}
		if f.Op != wantOp || f.Type != wantType || !reflect.DeepEqual(f.Msg, s.msg) {
			t.Errorf("%s: decoded %d %q %+v, want %d %q %+v", s.name, f.Op, f.Type, f.Msg, wantOp, wantType, s.msg)
		}
		// AppendFrame appends after what is there.
		prefix := []byte("prefix")
		app, err := AppendFrame(prefix, s.msg)
		if err != nil || !bytes.Equal(app, concat(prefix, got)) {
			t.Errorf("%s: AppendFrame = %x, %v", s.name, app, err)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := dagcbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGoldenFile compares b with testdata/golden/name.hex (rewritten with
// -update).
func checkGoldenFile(t *testing.T, name string, b []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".hex")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run with -update to create)", name, err)
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s: frame differs from golden\n got %x\nwant %x", name, b, want)
	}
}

// TestHeaderBytes pins the header bytes that the notes quote from the
// reference encoders.
func TestHeaderBytes(t *testing.T) {
	t.Parallel()
	commit, err := EncodeFrame(&Commit{})
	if err != nil {
		t.Fatal(err)
	}
	wantCommit, _ := hex.DecodeString("a261746723636f6d6d6974626f7001")
	if !bytes.HasPrefix(commit, wantCommit) {
		t.Errorf("#commit header % x, want % x", commit[:len(wantCommit)], wantCommit)
	}
	errFrame, err := EncodeFrame(&ErrorFrame{Error: "X"})
	if err != nil {
		t.Fatal(err)
	}
	wantErr, _ := hex.DecodeString("a1626f7020")
	if !bytes.HasPrefix(errFrame, wantErr) {
		t.Errorf("error header % x, want % x", errFrame[:len(wantErr)], wantErr)
	}
}

// TestErrorHeaderForms decodes both error headers: {op:-1} (TypeScript) and
// {t:"", op:-1} (cbor-gen), and indigo's body that always writes message.
func TestErrorHeaderForms(t *testing.T) {
	t.Parallel()
	body := mustMarshal(t, map[string]any{"error": "ConsumerTooSlow", "message": ""})
	for _, hdr := range []string{"a1626f7020", "a2617460626f7020", "a2617467236c6162656c73626f7020"} {
		h, _ := hex.DecodeString(hdr)
		f, err := DecodeFrame(concat(h, body))
		if err != nil {
			t.Errorf("header %s: %v", hdr, err)
			continue
		}
		want := Frame{Op: OpError, Msg: &ErrorFrame{Error: ErrNameConsumerTooSlow}}
		if !reflect.DeepEqual(f, want) {
			t.Errorf("header %s: got %+v, want %+v", hdr, f, want)
		}
		if _, ok := f.Seq(); ok {
			t.Errorf("header %s: an error frame has a seq", hdr)
		}
	}
}

// TestUnknownType: an unknown t is skipped, not an error, and unknown body
// fields of a known type are ignored.
func TestUnknownType(t *testing.T) {
	t.Parallel()
	frame := concat(
		mustMarshal(t, map[string]any{"t": "#labels", "op": int64(1)}),
		mustMarshal(t, map[string]any{"seq": int64(5), "labels": []any{}}))
	f, err := DecodeFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	if f.Op != OpMessage || f.Type != "#labels" || f.Msg != nil {
		t.Errorf("got %+v, want an unknown #labels frame", f)
	}
	if _, ok := f.Seq(); ok {
		t.Error("an unknown frame has a seq")
	}
	if seq, ok, err := PeekSeq(frame); ok || err != nil {
		t.Errorf("PeekSeq = %d, %v, %v; want not found", seq, ok, err)
	}
	js, err := f.MarshalJSON()
	if err != nil || string(js) != `{"body":null,"header":{"op":1,"t":"#labels"}}` {
		t.Errorf("JSON = %s, %v", js, err)
	}

	frame = concat(
		mustMarshal(t, map[string]any{"t": TypeIdentity, "op": int64(1), "x": "header extra"}),
		mustMarshal(t, map[string]any{"seq": int64(5), "did": "did:plc:a", "time": "t",
			"future": map[string]any{"nested": []any{int64(1), link("x"), nil}}}))
	f, err = DecodeFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&Identity{Seq: 5, DID: "did:plc:a", Time: "t"}); !reflect.DeepEqual(f.Msg, want) {
		t.Errorf("got %+v, want %+v", f.Msg, want)
	}
}

// TestFrameStamps: the event log's adapter sets seq and, only when empty, time.
func TestFrameStamps(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 4, 16, 23, 40, 33, 895_123_456, time.FixedZone("x", 3600))
	const wantTime = "2025-04-16T22:40:33.895Z"
	entries := []interface {
		Message
		Frame(int64, time.Time) ([]byte, error)
	}{&Commit{Repo: "did:plc:a"}, &Sync{DID: "did:plc:a"}, &Identity{DID: "did:plc:a"}, &Account{DID: "did:plc:a"}}
	for i, e := range entries {
		b, err := e.Frame(int64(100+i), now)
		if err != nil {
			t.Fatalf("%T: %v", e, err)
		}
		f, err := DecodeFrame(b)
		if err != nil {
			t.Fatalf("%T: %v", e, err)
		}
		if seq, ok := f.Seq(); !ok || seq != int64(100+i) {
			t.Errorf("%T: seq %d %v, want %d", e, seq, ok, 100+i)
		}
		if js, _ := f.MarshalJSON(); !strings.Contains(string(js), `"time":"`+wantTime+`"`) {
			t.Errorf("%T: %s lacks time %s", e, js, wantTime)
		}
		if did := f.DID(); did != "did:plc:a" {
			t.Errorf("%T: DID() = %q, want did:plc:a", e, did)
		}
		if got, ok := f.Time(); !ok || !got.Equal(now.Truncate(time.Millisecond)) {
			t.Errorf("%T: Time() = %v %v, want %v", e, got, ok, now.Truncate(time.Millisecond))
		}
	}
	for _, f := range []Frame{{}, {Msg: (*Commit)(nil)}, {Type: TypeInfo, Msg: &Info{Name: "OutdatedCursor"}}, {Msg: &Commit{Repo: "did:plc:b", Time: "not a time"}}} {
		if _, ok := f.Time(); ok {
			t.Errorf("%+v: Time() reported a time", f)
		}
	}
	if did := (Frame{Msg: &Info{}}).DID(); did != "" {
		t.Errorf("#info DID() = %q, want none", did)
	}
	c := &Commit{Time: "2020-01-01T00:00:00Z"}
	if _, err := c.Frame(7, now); err != nil || c.Time != "2020-01-01T00:00:00Z" || c.Seq != 7 {
		t.Errorf("Frame changed a set time: %+v, %v", c, err)
	}
}

// TestSeqRange: every int64 seq encodes as dagcbor does and decodes back.
func TestSeqRange(t *testing.T) {
	t.Parallel()
	for _, seq := range []int64{0, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, math.MaxInt64, -1, -24, -25, -257, math.MinInt64} {
		m := &Account{Seq: seq, DID: "did:plc:a", Time: "t"}
		got, err := EncodeFrame(m)
		if err != nil {
			t.Fatal(err)
		}
		want := concat(
			mustMarshal(t, map[string]any{"t": TypeAccount, "op": int64(1)}),
			mustMarshal(t, map[string]any{"seq": seq, "did": "did:plc:a", "time": "t", "active": false}))
		if !bytes.Equal(got, want) {
			t.Errorf("seq %d: got %x, want %x", seq, got, want)
		}
		f, err := DecodeFrame(got)
		if s, ok := f.Seq(); err != nil || !ok || s != seq {
			t.Errorf("seq %d: decoded %d, %v, %v", seq, s, ok, err)
		}
	}
}
