package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
)

// TestDevRunsThePipeline runs `conflux dev` on free ports and checks that the
// relay's firehose carries both hosts' commits, each passing the sync 1.1
// proof check, and that the status line reports the relay's head.
func TestDevRunsThePipeline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--data", t.TempDir(), "--port-base", "0", "--users", "3",
			"--rate", "40", "--status-every", "200ms"}, noEnv, &stdout, &stderr)
	}()
	var relayWS string
	waitFor(t, "the relay URL", func() bool {
		for _, line := range strings.Split(stdout.String(), "\n") {
			if strings.HasPrefix(line, "  relay ") {
				relayWS = wsURL(strings.Fields(line)[1])
				return true
			}
		}
		return false
	})
	// The status line shows the relay's head and the appview following it.
	status := regexp.MustCompile(`relay seq=(\d+).*appview cursor=(\d+)`)
	waitFor(t, "a status line with relay and appview progress", func() bool {
		for _, m := range status.FindAllStringSubmatch(stdout.String(), -1) {
			relayHead, _ := strconv.Atoi(m[1])
			appviewCursor, _ := strconv.Atoi(m[2])
			if relayHead > 20 && appviewCursor > 20 {
				return true
			}
		}
		return false
	})

	conn, _, err := websocket.DefaultDialer.DialContext(ctx, relayWS+"/xrpc/com.atproto.sync.subscribeRepos?cursor=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	repos := map[string]bool{}
	var last int64
	for checked := 0; checked < 20; {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		fr, err := firehose.DecodeFrame(msg)
		if err != nil {
			t.Fatal(err)
		}
		seq, ok := fr.Seq()
		if !ok || seq <= last {
			t.Fatalf("relay seq %d after %d", seq, last)
		}
		last = seq
		c, isCommit := fr.Msg.(*firehose.Commit)
		if !isCommit || len(c.Ops) == 0 || !c.PrevData.Defined() {
			continue
		}
		if _, err := repo.CheckCommitProof(c.Evidence(), car.CommitLimits()); err != nil {
			t.Fatalf("relay seq %d: %v", c.Seq, err)
		}
		repos[c.Repo] = true
		checked++
	}
	if len(repos) < 2 {
		t.Fatalf("commits from only %d repos", len(repos))
	}

	// The appview serves a profile of an account the relay carries.
	var appviewURL string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(line, "  appview ") {
			appviewURL = strings.Fields(line)[1]
		}
	}
	did := ""
	for r := range repos {
		did = r
		break
	}
	waitFor(t, "the appview's profile of "+did, func() bool {
		resp, err := http.Get(appviewURL + "/xrpc/app.bsky.actor.getProfile?actor=" + did)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var p struct {
			DID        string `json:"did"`
			PostsCount int    `json:"postsCount"`
		}
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&p) == nil && p.DID == did
	})

	// A feed of the feed generator fills from the relay.
	var feedgenURL string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(line, "  feedgen ") {
			feedgenURL = strings.Fields(line)[1]
		}
	}
	waitFor(t, "posts in the pictures feed", func() bool {
		resp, err := http.Get(feedgenURL + "/xrpc/app.bsky.feed.getFeedSkeleton?feed=at://" + devPublisherDID + "/app.bsky.feed.generator/pictures")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var sk struct {
			Feed []struct {
				Post string `json:"post"`
			} `json:"feed"`
		}
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&sk) == nil && len(sk.Feed) > 0
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev returned %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not shut down")
	}
}

// TestDevRestartResumes starts dev twice on one data directory: the second
// start reuses the synthetic users and every log continues from disk.
func TestDevRestartResumes(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	relaySeq := regexp.MustCompile(`relay seq=(\d+)`)
	lastRelaySeq := func(out string) int {
		n := 0
		for _, m := range relaySeq.FindAllStringSubmatch(out, -1) {
			n, _ = strconv.Atoi(m[1])
		}
		return n
	}
	// Fixed ports across the restart, as a person's dev runs have: the DID
	// documents name the hosts' URLs. Below the ephemeral range, so parallel
	// tests' :0 listeners do not take them.
	base := freePortBase(t)
	var first int
	for round := range 2 {
		ctx, cancel := context.WithCancel(t.Context())
		var stdout, stderr syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"dev", "--data", data, "--port-base", strconv.Itoa(base), "--users", "2",
				"--rate", "40", "--status-every", "200ms"}, noEnv, &stdout, &stderr)
		}()
		waitFor(t, "relay progress", func() bool { return lastRelaySeq(stdout.String()) > first+10 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("round %d: dev returned %v\nstderr:\n%s", round, err, stderr.String())
		}
		if round == 1 && lastRelaySeq(stdout.String()) <= first {
			t.Fatalf("relay seq went from %d to %d across a restart", first, lastRelaySeq(stdout.String()))
		}
		first = lastRelaySeq(stdout.String())
	}
}

// freePortBase finds a base port whose dev ports (base+0 to base+30) are free.
func freePortBase(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(10000)
		free := true
		for off := 0; off <= 30 && free; off++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+off)))
			if err != nil {
				free = false
				continue
			}
			ln.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free port range for dev")
	return 0
}
