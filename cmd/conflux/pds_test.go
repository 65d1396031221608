package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPDSCommandWithSyntheticActivity runs `conflux pds` with the development
// PLC directory and synthetic users, then checks a #commit from its firehose
// the way a relay would: the sync 1.1 proof, and the signature with the key
// resolved through the served PLC directory.
func TestPDSCommandWithSyntheticActivity(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"pds", "--listen", "127.0.0.1:0", "--data", t.TempDir(),
			"--admin-password", "pw", "--synth-users", "3", "--synth-rate", "200", "--log-level", "warn"},
			noEnv, &stdout, &stderr)
	}()
	var base string
	waitFor(t, "the listening line", func() bool {
		for _, line := range strings.Split(stdout.String(), "\n") {
			if u, ok := strings.CutPrefix(line, "pds listening on "); ok {
				base = u
				return true
			}
		}
		return false
	})

	waitFor(t, "three synthetic repos", func() bool {
		resp, err := http.Get(base + "/xrpc/com.atproto.sync.listRepos")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct{ Repos []struct{ DID string } }
		return json.NewDecoder(resp.Body).Decode(&out) == nil && len(out.Repos) == 3
	})

	ws := "ws" + strings.TrimPrefix(base, "http") + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0"
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resolver, err := identity.NewResolver(identity.Config{PLCURL: base + devPLCPath})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for checked < 5 {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		fr, err := firehose.DecodeFrame(msg)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := fr.Msg.(*firehose.Commit)
		if !ok || len(c.Ops) == 0 || !c.PrevData.Defined() {
			continue
		}
		got, err := repo.CheckCommitProof(c.Evidence(), car.CommitLimits())
		if err != nil {
			t.Fatalf("seq %d: proof: %v", c.Seq, err)
		}
		id, err := resolver.Resolve(ctx, c.Repo)
		if err != nil {
			t.Fatalf("resolve %s through the dev PLC directory: %v", c.Repo, err)
		}
		key, err := id.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := got.Commit.VerifySignature(key); err != nil {
			t.Fatalf("seq %d: %v", c.Seq, err)
		}
		if pdsURL, err := id.PDSEndpoint(); err != nil || pdsURL != base {
			t.Fatalf("DID document names PDS %q (%v), want %q", pdsURL, err, base)
		}
		checked++
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pds returned %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pds did not shut down")
	}
}

func TestPDSCommandUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"pds", "extra"}, {"pds", "--synth-users", "-1"}, {"pds", "--log-level", "loud"}} {
		if err := run(t.Context(), args, noEnv, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}
