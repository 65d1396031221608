package appview

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/identity"
)

// flakyResolver fails the first n resolutions as a transient failure.
type flakyResolver struct {
	identity.DIDResolver
	fails atomic.Int64
}

func (f *flakyResolver) Resolve(ctx context.Context, did string) (*identity.Identity, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, identity.ErrResolutionFailed
	}
	return f.DIDResolver.Resolve(ctx, did)
}

// TestPipelineRetriesKeyResolution: while signing keys cannot be resolved
// the verifying pipeline holds the stream (the events behind the failed
// one wait, nothing is skipped) and retries; the index it ends with equals
// an unverified clean pass byte for byte.
func TestPipelineRetriesKeyResolution(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	drive(t, h, 6, 300, 9)
	m := marker(t, h)
	_, want, head := cleanIndex(t, h, m)
	r := &flakyResolver{DIDResolver: h.resolver}
	r.fails.Store(40)
	db := openDB(t)
	s, err := New(Config{RelayURL: h.url, DB: db, Resolver: r, NoSync: true, VerifyWorkers: 4, MaxBatchEvents: 16,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := runServer(t, s)
	waitCursor(t, s, head)
	stop()
	if r.fails.Load() >= 0 {
		t.Fatal("the resolver never failed; the test proves nothing")
	}
	if got := dumpDB(t, db); !bytes.Equal(got, want) {
		t.Fatalf("index after resolution failures differs from the clean one (%d vs %d bytes)", len(got), len(want))
	}
}

// TestNewConsumerMatchesRun: the sequential durable consumer (the dev
// dashboard's pausable path) builds the same index as Run's pipeline.
func TestNewConsumerMatchesRun(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	drive(t, h, 6, 300, 10)
	m := marker(t, h)
	_, want, head := cleanIndex(t, h, m)
	db := openDB(t)
	s, err := New(Config{RelayURL: h.url, DB: db, NoVerify: true, NoSync: true, Logger: quiet(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.NewConsumer()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(cursorWait)
	for c.Cursor() < head && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := dumpDB(t, db); !bytes.Equal(got, want) {
		t.Fatalf("sequential index differs from the pipelined one (%d vs %d bytes)", len(got), len(want))
	}
}
