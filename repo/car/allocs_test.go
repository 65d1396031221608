package car

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// TestAllocs pins the allocation counts the package promises: ReadBytes
// allocates only its result map, and a prefix claiming 2 GiB allocates
// nothing in proportion to the claim. (Not parallel: AllocsPerRun forbids it.)
func TestAllocs(t *testing.T) {
	nc := loadNetworkCommits(t)[0]
	if allocs := testing.AllocsPerRun(20, func() {
		if _, _, err := ReadBytes(nc.blocks, Limits{}); err != nil {
			t.Fatal(err)
		}
	}); allocs > 4 {
		t.Errorf("ReadBytes on %s: %v allocations, want at most 4 (roots and map)", nc.name, allocs)
	}

	// The bytes allocated, not their count, show whether the claim was
	// believed: a believed claim would cost 2 GiB.
	root := cid.Sum(cid.Raw, nil)
	huge := append(Encode([]cid.CID{root}, nil), appendUvarint(nil, 2<<30)...)
	const runs = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if _, _, err := ReadBytes(huge, Limits{}); !errors.Is(err, ErrLimit) {
			t.Fatalf("ReadBytes: %v", err)
		}
		r, err := NewReader(bytes.NewReader(huge), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); !errors.Is(err, ErrLimit) {
			t.Fatalf("Next: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 16<<10 {
		t.Errorf("a 2 GiB prefix cost %d bytes of allocation per read", per)
	}
}
