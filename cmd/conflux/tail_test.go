package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// wsServer serves subscribeRepos on 127.0.0.1: it sends frames as binary
// messages, then calls end (nil: a normal close). Each request's URL is sent
// on the returned channel.
func wsServer(t *testing.T, frames [][]byte, end func(*websocket.Conn)) (*httptest.Server, <-chan *url.URL) {
	t.Helper()
	urls := make(chan *url.URL, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		urls <- r.URL
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer conn.Close()
		for _, f := range frames {
			if err := conn.WriteMessage(websocket.BinaryMessage, f); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
		if end != nil {
			end(conn)
			return
		}
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		if err := conn.WriteMessage(websocket.CloseMessage, msg); err != nil {
			t.Errorf("close: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, urls
}

func encodeAll(t *testing.T, msgs ...firehose.Message) [][]byte {
	t.Helper()
	var out [][]byte
	for _, m := range msgs {
		b, err := firehose.EncodeFrame(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func rec(s string) cid.CID { return cid.Sum(cid.DagCBOR, []byte(s)) }

const did = "did:plc:44ybard66vv44zksje25o7dz"

func sampleEvents(t *testing.T) [][]byte {
	frames := encodeAll(t,
		&firehose.Identity{Seq: 101, DID: did, Time: "2025-04-16T21:30:26.717Z", Handle: "alice.test"},
		&firehose.Account{Seq: 102, DID: did, Time: "2025-04-16T21:30:26.717Z", Status: "deactivated"},
		&firehose.Commit{
			Seq: 103, Repo: did, Commit: rec("commit"), Rev: "3lmxjza3nva27", Since: "3lmxjxi3hjn23",
			Blocks: []byte("car"), Time: "2025-04-16T21:30:26.717Z",
			Ops: []firehose.RepoOp{
				{Action: "create", Path: "app.bsky.feed.like/3lmxjza3h2i27", CID: rec("like")},
				{Action: "delete", Path: "app.bsky.feed.post/3lmxjzlexp22k", Prev: rec("post")},
			},
		},
		&firehose.Sync{Seq: 104, DID: did, Rev: "3lmxk25y7ad22", Blocks: []byte("car"), Time: "2025-04-16T21:30:26.717Z"},
		&firehose.Info{Name: firehose.InfoOutdatedCursor, Message: "replaying\x1b[2J from the start"},
	)
	// A type this client does not know: printed as skipped, not fatal.
	unknown := []byte("\xa2\x61t\x67#labels\x62op\x01\xa1\x63seq\x18\x69")
	return append(frames, unknown)
}

var sampleLines = []string{
	"101 #identity " + did + " handle=alice.test",
	"102 #account " + did + " active=false status=deactivated",
	"103 #commit " + did + " rev=3lmxjza3nva27 create app.bsky.feed.like/3lmxjza3h2i27 delete app.bsky.feed.post/3lmxjzlexp22k",
	"104 #sync " + did + " rev=3lmxk25y7ad22",
	"#info OutdatedCursor: replaying\uFFFD[2J from the start",
	"#labels (unknown type, skipped)",
}

func TestTailPrints(t *testing.T) {
	t.Parallel()
	srv, urls := wsServer(t, sampleEvents(t), nil)
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"tail", srv.URL, "--cursor", "100"}, noEnv, &out, &errOut)
	if err != nil {
		t.Fatalf("tail: %v (stderr %q)", err, errOut.String())
	}
	u := <-urls
	if u.Path != subscribeReposPath || u.Query().Get("cursor") != "100" {
		t.Errorf("requested %s, want %s?cursor=100", u, subscribeReposPath)
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(sampleLines, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), strings.Join(sampleLines, "\n"))
	}
	if errOut.String() != "last cursor: 104\n" {
		t.Errorf("stderr %q, want the last cursor 104", errOut.String())
	}
}

func TestTailJSON(t *testing.T) {
	t.Parallel()
	frames := sampleEvents(t)
	srv, urls := wsServer(t, frames, nil)
	var out, errOut bytes.Buffer
	// Flags may come before the URL; a full subscribeRepos URL is kept as is.
	err := runTail(t.Context(), []string{"--json", srv.URL + subscribeReposPath}, noEnv, &out, &errOut)
	if err != nil {
		t.Fatalf("tail: %v", err)
	}
	if u := <-urls; u.Path != subscribeReposPath || u.RawQuery != "" {
		t.Errorf("requested %s, want %s without a cursor", u, subscribeReposPath)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(frames) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(frames), out.String())
	}
	wantFirst := `{"body":{"did":"` + did + `","handle":"alice.test","seq":101,"time":"2025-04-16T21:30:26.717Z"},"header":{"op":1,"t":"#identity"}}`
	if lines[0] != wantFirst {
		t.Errorf("first line\n%s\nwant\n%s", lines[0], wantFirst)
	}
	for i, line := range lines {
		var v struct {
			Header struct {
				T string `json:"t"`
			} `json:"header"`
			Body map[string]any `json:"body"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		f, err := firehose.DecodeFrame(frames[i])
		if err != nil {
			t.Fatal(err)
		}
		if v.Header.T != f.Type {
			t.Errorf("line %d: t %q, want %q", i, v.Header.T, f.Type)
		}
	}
	if !strings.Contains(lines[2], `"blocks":{"$bytes":"Y2Fy"}`) || !strings.Contains(lines[2], `"cid":null`) {
		t.Errorf("commit JSON lacks $bytes blocks or the null cid: %s", lines[2])
	}
	if errOut.String() != "last cursor: 104\n" {
		t.Errorf("stderr %q", errOut.String())
	}
}

func TestTailErrorFrame(t *testing.T) {
	t.Parallel()
	frames := encodeAll(t,
		&firehose.Account{Seq: 7, DID: did, Time: "2025-04-16T21:30:26.717Z", Active: true},
		&firehose.ErrorFrame{Error: firehose.ErrNameConsumerTooSlow, Message: "Stream consumer too slow"},
	)
	srv, _ := wsServer(t, frames, nil)
	var out, errOut bytes.Buffer
	err := runTail(t.Context(), []string{srv.URL}, noEnv, &out, &errOut)
	if !errors.Is(err, errStreamError) || !strings.Contains(err.Error(), "ConsumerTooSlow") {
		t.Fatalf("got %v, want the ConsumerTooSlow error frame", err)
	}
	want := "7 #account " + did + " active=true\nerror ConsumerTooSlow: Stream consumer too slow\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if errOut.String() != "last cursor: 7\n" {
		t.Errorf("stderr %q", errOut.String())
	}
}

// lineSignal is a writer that reports each write on a channel.
type lineSignal struct {
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *lineSignal) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// TestTailCancel: cancelling the context (Ctrl-C) ends a live tail cleanly.
func TestTailCancel(t *testing.T) {
	t.Parallel()
	frames := encodeAll(t, &firehose.Identity{Seq: 42, DID: did, Time: "2025-04-16T21:30:26.717Z"})
	srv, _ := wsServer(t, frames, func(conn *websocket.Conn) {
		// Stay open, like a live stream, until the client goes away.
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &lineSignal{wrote: make(chan struct{}, 1)}
	var errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- runTail(ctx, []string{srv.URL}, noEnv, out, &errOut) }()
	<-out.wrote
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail after cancel: %v", err)
	}
	if out.buf.String() != "42 #identity "+did+"\n" || errOut.String() != "last cursor: 42\n" {
		t.Errorf("stdout %q, stderr %q", out.buf.String(), errOut.String())
	}
}

// TestTailBadStream: a frame that does not decode, a text message and an
// abrupt end are errors.
func TestTailBadStream(t *testing.T) {
	t.Parallel()
	cases := map[string]func(*websocket.Conn){
		"bad frame": func(c *websocket.Conn) {
			_ = c.WriteMessage(websocket.BinaryMessage, []byte{0xa1, 0x62, 'o', 'p', 0x02, 0xa0})
		},
		"text message": func(c *websocket.Conn) {
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":1}`))
		},
		"abrupt end": func(c *websocket.Conn) {},
	}
	for name, end := range cases {
		srv, _ := wsServer(t, nil, end)
		var out, errOut bytes.Buffer
		err := runTail(t.Context(), []string{srv.URL}, noEnv, &out, &errOut)
		if err == nil || errors.Is(err, errUsage) {
			t.Errorf("%s: got %v, want a stream error", name, err)
		}
		if errOut.String() != "last cursor: none\n" {
			t.Errorf("%s: stderr %q", name, errOut.String())
		}
	}
}

func TestTailUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		nil,
		{"ftp://relay.example"},
		{"wss://relay.example", "extra"},
		{"wss://relay.example", "--cursor", "x"},
		{"--nope", "wss://relay.example"},
		{"wss://"},
	} {
		var out, errOut bytes.Buffer
		if err := runTail(t.Context(), args, noEnv, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("tail %q: got %v, want a usage error", args, err)
		}
	}
}

func TestSubscribeURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in     string
		cursor int64
		want   string
	}{
		{"wss://bsky.network", -1, "wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos"},
		{"https://bsky.network/", 0, "wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos?cursor=0"},
		{"http://127.0.0.1:2470", 25, "ws://127.0.0.1:2470/xrpc/com.atproto.sync.subscribeRepos?cursor=25"},
		{"ws://h/xrpc/com.atproto.sync.subscribeRepos?cursor=1", 9, "ws://h/xrpc/com.atproto.sync.subscribeRepos?cursor=9"},
	}
	for _, c := range cases {
		got, err := subscribeURL(c.in, c.cursor)
		if err != nil || got != c.want {
			t.Errorf("subscribeURL(%q, %d) = %q, %v; want %q", c.in, c.cursor, got, err, c.want)
		}
	}
}
