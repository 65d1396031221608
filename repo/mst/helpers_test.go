package mst

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// interop is where the atproto interop vectors live, read in place.
const interop = "../../../shared/testdata/atproto-interop"

func readJSON(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(interop, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// fakeCID returns a distinct record CID for i.
func fakeCID(i int) cid.CID {
	return cid.Sum(cid.DagCBOR, fmt.Appendf(nil, "record %d", i))
}

// build returns a tree holding m, with its blocks written to a new store.
func build(t testing.TB, m map[string]cid.CID) (*Tree, MemBlocks, cid.CID) {
	t.Helper()
	tr := New()
	for k, v := range m {
		if _, err := tr.Put(k, v); err != nil {
			t.Fatal(err)
		}
	}
	bs := MemBlocks{}
	root := commit(t, tr, bs)
	return tr, bs, root
}

// commit computes the tree's root and writes its new blocks into bs.
func commit(t testing.TB, tr *Tree, bs MemBlocks) cid.CID {
	t.Helper()
	root, err := tr.Root()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteBlocks(bs.Put); err != nil {
		t.Fatal(err)
	}
	return root
}

// contents walks tr into a map and checks the walk is strictly increasing.
func contents(t testing.TB, tr *Tree) map[string]cid.CID {
	t.Helper()
	out := map[string]cid.CID{}
	last := ""
	err := tr.Walk(func(k string, v cid.CID) error {
		if k <= last {
			return fmt.Errorf("walk out of order: %q after %q", k, last)
		}
		last = k
		out[k] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tid returns a plausible record key: 13 base32-sortable characters of an
// increasing timestamp and a random clock id.
func tid(r *rand.Rand, us uint64) string {
	const alphabet = "234567abcdefghijklmnopqrstuvwxyz"
	v := us<<10 | r.Uint64N(1024)
	var b [13]byte
	for i := range b {
		b[i] = alphabet[(v>>(60-5*i))&31]
	}
	return string(b[:])
}

// realisticKeys returns n distinct keys like app.bsky.feed.post/<tid>, spread
// over a few collections.
func realisticKeys(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 7))
	colls := []string{"app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow", "app.bsky.feed.repost"}
	us := uint64(1_700_000_000_000_000)
	keys := make([]string, 0, n)
	seen := make(map[string]bool, n)
	for len(keys) < n {
		us += 1 + r.Uint64N(5_000_000)
		k := colls[r.IntN(len(colls))] + "/" + tid(r, us)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}
