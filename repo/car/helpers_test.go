package car

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// networkDir holds real #commit events captured from the Bluesky firehose.
const networkDir = "../../../shared/testdata/indigo/firehose-commits"

// networkFiles are listed by name so that a missing vector fails the tests
// rather than shrinking them.
var networkFiles = []string{
	"firehose_commit_4621317030.json",
	"firehose_commit_4621317332.json",
	"firehose_commit_4621332152.json",
	"firehose_commit_4623075231.json",
}

// networkCommit is the JSON form of a #commit event, reduced to the fields
// these tests use.
type networkCommit struct {
	Blocks struct {
		Bytes string `json:"$bytes"`
	} `json:"blocks"`
	Commit struct {
		Link string `json:"$link"`
	} `json:"commit"`
	Ops []struct {
		Action string `json:"action"`
		CID    *struct {
			Link string `json:"$link"`
		} `json:"cid"`
		Path string `json:"path"`
	} `json:"ops"`
}

type networkCase struct {
	name   string
	blocks []byte
	commit cid.CID
	ops    []cid.CID // CIDs of created or updated records
}

func loadNetworkCommits(tb testing.TB) []networkCase {
	tb.Helper()
	out := make([]networkCase, 0, len(networkFiles))
	for _, name := range networkFiles {
		raw, err := os.ReadFile(filepath.Join(networkDir, name))
		if err != nil {
			tb.Fatal(err)
		}
		var ev networkCommit
		if err := json.Unmarshal(raw, &ev); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		// The JSON data model allows base64 with or without padding.
		blocks, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(ev.Blocks.Bytes, "="))
		if err != nil {
			tb.Fatalf("%s: blocks: %v", name, err)
		}
		commit, err := cid.Decode(ev.Commit.Link)
		if err != nil {
			tb.Fatalf("%s: commit: %v", name, err)
		}
		c := networkCase{name: name, blocks: blocks, commit: commit}
		for _, op := range ev.Ops {
			if op.CID == nil {
				continue
			}
			oc, err := cid.Decode(op.CID.Link)
			if err != nil {
				tb.Fatalf("%s: op %s: %v", name, op.Path, err)
			}
			c.ops = append(c.ops, oc)
		}
		out = append(out, c)
	}
	return out
}

// readAll streams a whole CAR and returns its roots and blocks in order.
func readAll(r io.Reader, lim Limits) ([]cid.CID, []Block, error) {
	cr, err := NewReader(r, lim)
	if err != nil {
		return nil, nil, err
	}
	var blocks []Block
	for {
		b, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return cr.Roots(), blocks, nil
		}
		if err != nil {
			return nil, nil, err
		}
		blocks = append(blocks, b)
	}
}

// plainReader hides every method but Read, so NewReader takes its bufio path.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

// section builds one block section from raw CID bytes and data.
func section(cidBytes, data []byte) []byte {
	out := appendUvarint(nil, uint64(len(cidBytes)+len(data)))
	out = append(out, cidBytes...)
	return append(out, data...)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func blockOf(codec cid.Codec, data string) Block {
	return Block{CID: cid.Sum(codec, []byte(data)), Data: []byte(data)}
}
