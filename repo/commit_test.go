package repo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/mst"
)

const indigoDir = "../../shared/testdata/indigo"

func testCommit(t testing.TB, key crypto.PrivateKey) *Commit {
	t.Helper()
	c := &Commit{
		DID:     "did:plc:vixizgjuwef5ovmixqxalfup",
		Version: Version,
		Data:    cid.MustDecode("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"),
		Rev:     "3l3qo2vxaaw22",
	}
	if err := c.Sign(key); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCommitSignVerifyBothCurves(t *testing.T) {
	t.Parallel()
	for _, gen := range []func() (crypto.PrivateKey, error){crypto.GenerateP256, crypto.GenerateK256} {
		key, err := gen()
		if err != nil {
			t.Fatal(err)
		}
		c := testCommit(t, key)
		if err := c.VerifyStructure(); err != nil {
			t.Fatal(err)
		}
		if err := c.VerifySignature(key.Public()); err != nil {
			t.Fatalf("%s: %v", key.Alg(), err)
		}
		id, raw, err := c.Block()
		if err != nil {
			t.Fatal(err)
		}
		if !id.Matches(raw) {
			t.Fatal("commit CID does not match its block")
		}
		back, err := ParseCommit(raw)
		if err != nil {
			t.Fatal(err)
		}
		if back.DID != c.DID || back.Rev != c.Rev || back.Data != c.Data || !bytes.Equal(back.Sig, c.Sig) || back.Prev.Defined() {
			t.Fatalf("round trip changed the commit: %+v", back)
		}
		if err := back.VerifySignature(key.Public()); err != nil {
			t.Fatal(err)
		}
		// Any change to a signed field breaks the signature.
		tampered := *back
		tampered.Rev = "3l3qo2vxaaw23"
		if err := tampered.VerifySignature(key.Public()); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("tampered rev: %v", err)
		}
		other, _ := gen()
		if err := back.VerifySignature(other.Public()); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("wrong key: %v", err)
		}
	}
}

func TestCommitKeyOrderAndNullPrev(t *testing.T) {
	t.Parallel()
	key, err := crypto.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := testCommit(t, key).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// Length-first key order: did, rev, sig, data, prev, version; prev is null.
	var order []string
	for _, k := range []string{"did", "rev", "sig", "data", "prev", "version"} {
		i := bytes.Index(raw, append([]byte{0x60 | byte(len(k))}, k...))
		if i < 0 {
			t.Fatalf("key %q missing", k)
		}
		order = append(order, k)
		_ = i
	}
	last := -1
	for _, k := range order {
		i := bytes.Index(raw, append([]byte{0x60 | byte(len(k))}, k...))
		if i < last {
			t.Fatalf("key %q out of order in %x", k, raw)
		}
		last = i
	}
	if !bytes.Contains(raw, []byte{0x64, 'p', 'r', 'e', 'v', 0xf6}) {
		t.Fatalf("prev is not written as null: %x", raw)
	}
	if raw[0] != 0xa6 {
		t.Fatalf("signed commit is not a 6-key map: %x", raw[0])
	}
}

func TestCommitStructureRejects(t *testing.T) {
	t.Parallel()
	key, _ := crypto.GenerateP256()
	base := testCommit(t, key)
	cases := map[string]func(c *Commit){
		"version 2":   func(c *Commit) { c.Version = 2 },
		"bad did":     func(c *Commit) { c.DID = "plc:abc" },
		"bad rev":     func(c *Commit) { c.Rev = "not-a-tid" },
		"no data":     func(c *Commit) { c.Data = cid.Undef },
		"raw data":    func(c *Commit) { c.Data = cid.Sum(cid.Raw, nil) },
		"unsigned":    func(c *Commit) { c.Sig = nil },
		"empty did":   func(c *Commit) { c.DID = "" },
		"future junk": func(c *Commit) { c.Rev = "zzzzzzzzzzzzz" },
	}
	for name, mutate := range cases {
		c := *base
		mutate(&c)
		if err := c.VerifyStructure(); !errors.Is(err, ErrCommitStructure) {
			t.Errorf("%s: VerifyStructure = %v", name, err)
		}
	}
	// Bytes that are not a canonical commit map.
	for name, b := range map[string][]byte{
		"empty":       nil,
		"not a map":   {0x01},
		"empty map":   {0xa0},
		"extra key":   mustMarshal(t, map[string]any{"did": base.DID, "rev": base.Rev, "sig": base.Sig, "data": base.Data, "prev": nil, "version": int64(3), "x": int64(1)}),
		"prev absent": mustMarshal(t, map[string]any{"did": base.DID, "rev": base.Rev, "sig": base.Sig, "data": base.Data, "version": int64(3)}),
	} {
		if _, err := ParseCommit(b); !errors.Is(err, ErrCommitStructure) {
			t.Errorf("ParseCommit(%s) = %v", name, err)
		}
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := dagcbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// networkCommit is one #commit event from the public network as the indigo
// test files store it.
type networkCommit struct {
	Repo   string `json:"repo"`
	Rev    string `json:"rev"`
	Since  string `json:"since"`
	Commit struct {
		Link string `json:"$link"`
	} `json:"commit"`
	Blocks struct {
		Bytes string `json:"$bytes"`
	} `json:"blocks"`
	Ops []struct {
		Action string `json:"action"`
		Path   string `json:"path"`
		CID    *struct {
			Link string `json:"$link"`
		} `json:"cid"`
	} `json:"ops"`
}

func loadNetworkCommits(t *testing.T) map[string]networkCommit {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(indigoDir, "firehose-commits", "*.json"))
	if err != nil || len(files) != 4 {
		t.Fatalf("want the 4 network commits, got %d files (%v)", len(files), err)
	}
	out := make(map[string]networkCommit)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev networkCommit
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = ev
	}
	return out
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNetworkCommitsRoundTrip decodes every block of four real network commits
// (the signed commit, its MST nodes and records) and re-encodes each one
// byte-identically, then runs the proof check (these predate sync 1.1, so
// without prevData: each op must match the tree).
func TestNetworkCommitsRoundTrip(t *testing.T) {
	t.Parallel()
	for name, ev := range loadNetworkCommits(t) {
		t.Run(name, func(t *testing.T) {
			blocksRaw := decodeB64(t, ev.Blocks.Bytes)
			commitCID := cid.MustDecode(ev.Commit.Link)
			roots, blocks, err := car.ReadBytes(blocksRaw, car.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(roots) != 1 || roots[0] != commitCID {
				t.Fatalf("roots %v, want %s", roots, commitCID)
			}
			commit, err := ParseCommit(blocks[commitCID])
			if err != nil {
				t.Fatal(err)
			}
			if err := commit.VerifyStructure(); err != nil {
				t.Fatal(err)
			}
			again, _ := commit.Bytes()
			if !bytes.Equal(again, blocks[commitCID]) {
				t.Fatal("commit does not re-encode byte-identically")
			}
			var nodes, records int
			for c, b := range blocks {
				if c == commitCID {
					continue
				}
				if n, err := mst.DecodeNode(b); err == nil {
					if !bytes.Equal(n.Encode(), b) {
						t.Fatalf("MST node %s does not re-encode identically", c)
					}
					nodes++
					continue
				}
				var v any
				if err := dagcbor.Unmarshal(b, &v); err != nil {
					t.Fatalf("block %s is neither an MST node nor a record: %v", c, err)
				}
				if re := mustMarshal(t, v); !bytes.Equal(re, b) {
					t.Fatalf("record %s does not re-encode identically", c)
				}
				records++
			}
			if nodes == 0 || records == 0 {
				t.Fatalf("found %d nodes and %d records", nodes, records)
			}
			evidence := &CommitEvidence{Repo: ev.Repo, Rev: ev.Rev, Commit: commitCID, Blocks: blocksRaw}
			for _, op := range ev.Ops {
				o := Op{Action: Action(op.Action), Path: op.Path}
				if op.CID != nil {
					o.CID = cid.MustDecode(op.CID.Link)
				}
				evidence.Ops = append(evidence.Ops, o)
			}
			checked, err := CheckCommitProof(evidence, car.Limits{})
			if err != nil {
				t.Fatalf("proof check: %v", err)
			}
			for _, op := range evidence.Ops {
				if op.Action == Delete {
					continue
				}
				if _, ok := checked.Record(op); !ok {
					t.Fatalf("record for %s missing", op.Path)
				}
			}
			// The event's repo and rev must match the commit's.
			bad := *evidence
			bad.Repo = "did:plc:someoneelse"
			if _, err := CheckCommitProof(&bad, car.Limits{}); !errors.Is(err, ErrCommitMismatch) {
				t.Fatalf("other repo: %v", err)
			}
			bad = *evidence
			bad.Rev = "2222222222222"
			if _, err := CheckCommitProof(&bad, car.Limits{}); !errors.Is(err, ErrCommitMismatch) {
				t.Fatalf("other rev: %v", err)
			}
		})
	}
}
