package lexicon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// realRecord is one record written by a real PDS, taken from a #commit.
type realRecord struct {
	file, path string
	data       []byte
}

// realRecords digs every created or updated record out of the #commit
// events in the indigo firehose and relay-scenario vectors.
func realRecords(t *testing.T) []realRecord {
	t.Helper()
	var files []string
	for _, dir := range []string{"firehose-commits", "relay-scenarios"} {
		m, err := filepath.Glob("../../shared/testdata/indigo/" + dir + "/*.json")
		if err != nil || len(m) == 0 {
			t.Fatalf("%s: %v", dir, err)
		}
		files = append(files, m...)
	}
	var out []realRecord
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dagcbor.FromJSON(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walkCommits(v, func(blocks []byte, ops []any) {
			_, bs, err := car.ReadBytes(blocks, car.CommitLimits())
			if err != nil {
				t.Fatalf("%s: CAR: %v", f, err)
			}
			for _, o := range ops {
				op := o.(map[string]any)
				c, ok := op["cid"].(cid.CID)
				if !ok || op["action"] == "delete" {
					continue
				}
				rec, found, err := bs.GetBlock(c)
				if err != nil || !found {
					continue // a pruned or partial slice; nothing to check
				}
				out = append(out, realRecord{file: filepath.Base(f), path: op["path"].(string), data: rec})
			}
		})
	}
	return out
}

func walkCommits(v any, fn func(blocks []byte, ops []any)) {
	switch x := v.(type) {
	case map[string]any:
		blocks, ok1 := x["blocks"].([]byte)
		ops, ok2 := x["ops"].([]any)
		if ok1 && ok2 {
			fn(blocks, ops)
		}
		for _, e := range x {
			walkCommits(e, fn)
		}
	case []any:
		for _, e := range x {
			walkCommits(e, fn)
		}
	}
}

// Records from the live network validate, decode into their types, and
// re-encode to the exact bytes they were stored as.
func TestRealRecords(t *testing.T) {
	t.Parallel()
	recs := realRecords(t)
	seen := map[string]int{}
	for _, r := range recs {
		collection, _, _ := strings.Cut(r.path, "/")
		v, err := DecodeRecord(collection, r.data)
		if errors.Is(err, ErrUnknownSchema) {
			seen["unknown "+collection]++
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", r.file, r.path, err)
			continue
		}
		seen[collection]++
		if _, generic := v.(map[string]any); generic {
			continue
		}
		again, err := dagcbor.Marshal(v)
		if err != nil || !bytes.Equal(again, r.data) {
			t.Errorf("%s %s: re-encoding differs (%v):\n got %x\nwant %x", r.file, r.path, err, again, r.data)
		}
	}
	t.Logf("records by collection: %v", seen)
	for _, want := range []string{NSIDFeedPost, NSIDFeedLike, NSIDFeedRepost, NSIDGraphFollow, NSIDActorProfile, NSIDFeedThreadgate} {
		if seen[want] == 0 {
			t.Errorf("no real %s record was checked", want)
		}
	}
}
