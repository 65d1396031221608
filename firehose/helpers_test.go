package firehose

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// The interop fixtures, read in place.
const indigoDir = "../../shared/testdata/indigo"

// vectorFrame is one frame built from a fixture's JSON.
type vectorFrame struct {
	name    string
	invalid bool   // marked invalid by the fixture
	json    any    // the frame as {header, body}, normalised (see normaliseBody)
	bytes   []byte // header + body CBOR built from json
	// raw is the frame built from the JSON as given, when that differs from
	// bytes (fields outside the current lexicon); nil otherwise.
	raw []byte
}

type scenarioFile struct {
	Messages []struct {
		Frame   json.RawMessage `json:"frame"`
		Drop    bool            `json:"drop"`
		Invalid bool            `json:"invalid"`
		Update  bool            `json:"update"`
	} `json:"messages"`
}

// loadScenarioFrames builds every frame of every relay scenario.
func loadScenarioFrames(tb testing.TB) []vectorFrame {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(indigoDir, "relay-scenarios", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no relay scenarios under %s: %v", indigoDir, err)
	}
	var out []vectorFrame
	for _, file := range files {
		var sc scenarioFile
		if err := json.Unmarshal(readFile(tb, file), &sc); err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		for i, m := range sc.Messages {
			v, err := dagcbor.ObjectFromJSON(m.Frame)
			if err != nil {
				tb.Fatalf("%s message %d: %v", file, i, err)
			}
			hdr, _ := v["header"].(map[string]any)
			body, _ := v["body"].(map[string]any)
			if hdr == nil || body == nil {
				tb.Fatalf("%s message %d: frame lacks header or body", file, i)
			}
			vf := vectorFrame{
				name:    filepath.Base(file) + "#" + strconv.Itoa(i),
				invalid: m.Invalid,
			}
			if normaliseBody(body) {
				tb.Fatalf("%s message %d: unexpected legacy field", file, i)
			}
			vf.json = map[string]any{"header": hdr, "body": body}
			vf.bytes = buildFrame(tb, hdr, body)
			out = append(out, vf)
		}
	}
	return out
}

// loadFirehoseCommits builds frames of the four real #commit bodies, adding
// the header.
func loadFirehoseCommits(tb testing.TB) []vectorFrame {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(indigoDir, "firehose-commits", "*.json"))
	if err != nil || len(files) != 4 {
		tb.Fatalf("want 4 firehose commits under %s, got %d (%v)", indigoDir, len(files), err)
	}
	var out []vectorFrame
	for _, file := range files {
		body, err := dagcbor.ObjectFromJSON(readFile(tb, file))
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		hdr := map[string]any{"op": int64(1), "t": TypeCommit}
		asGiven := make(map[string]any, len(body))
		for k, v := range body {
			asGiven[k] = v
		}
		fixBlobs(asGiven)
		vf := vectorFrame{name: filepath.Base(file)}
		vf.raw = buildFrame(tb, hdr, asGiven)
		if !normaliseBody(body) {
			tb.Fatalf("%s: expected the legacy prev field", file)
		}
		vf.json = map[string]any{"header": hdr, "body": body}
		vf.bytes = buildFrame(tb, hdr, body)
		out = append(out, vf)
	}
	return out
}

// normaliseBody turns a fixture body into the wire form a current encoder
// writes, and reports whether it removed a legacy field:
//   - blobs: the fixtures were dumped from indigo's Go structs with
//     encoding/json, which writes a nil slice as null; cbor-gen writes the
//     same nil slice as an empty array, the only form the lexicon allows.
//   - prev: the #commit field removed from the lexicon in sync 1.1 (null in
//     the four 2025 network commits). Decoding ignores it as an unknown
//     field, so a re-encoded frame lacks it.
func normaliseBody(body map[string]any) bool {
	fixBlobs(body)
	if _, ok := body["prev"]; ok {
		delete(body, "prev")
		return true
	}
	return false
}

func fixBlobs(body map[string]any) {
	if v, ok := body["blobs"]; ok && v == nil {
		body["blobs"] = []any{}
	}
}

func buildFrame(tb testing.TB, hdr, body map[string]any) []byte {
	tb.Helper()
	h, err := dagcbor.Marshal(hdr)
	if err != nil {
		tb.Fatalf("marshal header: %v", err)
	}
	b, err := dagcbor.Marshal(body)
	if err != nil {
		tb.Fatalf("marshal body: %v", err)
	}
	return append(h, b...)
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// concat joins byte slices into a new one.
func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
