package synthhost_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/pdstest"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/pds/synthhost"
)

func TestDriverThroughAdapter(t *testing.T) {
	p, _ := pdstest.Start(t, pds.Config{})
	var commits atomic.Int64
	h := synthhost.Host{PDS: p, OnCommit: func(did string, res pds.CommitResult) {
		if did == "" || res.Rev == "" {
			t.Errorf("commit hook saw did %q rev %q", did, res.Rev)
		}
		commits.Add(1)
	}}
	d, err := synth.New(synth.Config{Host: h, Users: 4, MaxWrites: 60, Seed: 3, Workers: 1, HandleDomain: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if st.Errors != 0 || st.Writes != 60 {
		t.Fatalf("driver stats %+v: want 60 writes, no errors", st)
	}
	if commits.Load() != st.Writes {
		t.Fatalf("OnCommit saw %d commits, driver made %d writes", commits.Load(), st.Writes)
	}

	// A taken handle is the existing account (a restarted host's users).
	did, err := h.CreateAccount(t.Context(), "again.test", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := h.CreateAccount(t.Context(), "again.test", "pw"); err != nil || again != did {
		t.Fatalf("second CreateAccount = %q, %v; want %q", again, err, did)
	}
	// A delete of a record that is gone is synth.ErrNotFound.
	_, err = h.ApplyWrites(t.Context(), did, []synth.Write{{Action: "delete", Collection: "app.bsky.feed.post", RKey: "3jzfcijpj2z2a"}})
	if !errors.Is(err, synth.ErrNotFound) {
		t.Fatalf("delete of a missing record: %v, want synth.ErrNotFound", err)
	}
}
