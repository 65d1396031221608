package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

// plcServer serves DID documents in the PLC directory's shape at /{did}.
type plcServer struct {
	*httptest.Server
	mu   sync.Mutex
	docs map[string][]byte
}

func newPLC(t testing.TB) *plcServer {
	p := &plcServer{docs: map[string][]byte{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p.mu.Lock()
		doc, ok := p.docs[strings.TrimPrefix(req.URL.Path, "/")]
		p.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/did+ld+json")
		w.Write(doc)
	}))
	t.Cleanup(p.Close)
	return p
}

// set publishes did's document: its handle, multibase signing key and PDS.
func (p *plcServer) set(did, handle, keyMultibase, pds string) {
	doc := map[string]any{
		"@context": []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"},
		"id":       did,
		"verificationMethod": []map[string]any{{
			"id": did + "#atproto", "type": "Multikey", "controller": did, "publicKeyMultibase": keyMultibase,
		}},
		"service": []map[string]any{{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}},
	}
	if handle != "" {
		doc["alsoKnownAs"] = []string{"at://" + handle}
	}
	b, _ := json.Marshal(doc)
	p.mu.Lock()
	p.docs[did] = b
	p.mu.Unlock()
}

// textPrefix marks a frame the host sends as a text message.
const textPrefix = "TEXT:"

// frameHost is an upstream host that serves a fixed list of binary frames
// with the spec's cursor semantics (frames whose seq > cursor; all of them
// without a cursor), then holds the connection open.
type frameHost struct {
	*httptest.Server
	mu     sync.Mutex
	frames [][]byte
	// repoStatus, if set, is the body of getRepoStatus answers.
	repoStatus string
	// wire, if set (benchmarks), is every frame already framed as
	// WebSocket messages: a connection without a cursor gets it in big
	// writes once gate is closed, so that the host costs the benchmark a
	// few syscalls, not one per frame.
	wire    []byte
	gate    chan struct{}
	waiting atomic.Int32 // connections parked at the gate
}

// prebuild frames the host's frames as WebSocket messages once, and holds
// them back until start is called.
func (h *frameHost) prebuild() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.wire = h.wire[:0]
	for _, f := range h.frames {
		h.wire = append(h.wire, 0x82) // FIN, binary
		switch n := len(f); {
		case n < 126:
			h.wire = append(h.wire, byte(n))
		case n <= 0xffff:
			h.wire = append(h.wire, 126, byte(n>>8), byte(n))
		default:
			h.wire = append(h.wire, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		h.wire = append(h.wire, f...)
	}
	h.gate = make(chan struct{})
}

// start releases the prebuilt frames.
func (h *frameHost) start() { close(h.gate) }

// ready reports whether a connection waits at the gate.
func (h *frameHost) ready() bool { return h.waiting.Load() > 0 }

// serveWire writes the prebuilt stream in big chunks.
func (h *frameHost) serveWire(conn *websocket.Conn, wire []byte, gate chan struct{}) {
	h.waiting.Add(1)
	<-gate
	h.waiting.Add(-1)
	nc := conn.UnderlyingConn()
	for len(wire) > 0 {
		n := min(len(wire), 256<<10)
		if _, err := nc.Write(wire[:n]); err != nil {
			return
		}
		wire = wire[n:]
	}
}

func newFrameHost(t testing.TB, frames [][]byte) *frameHost {
	return newFrameHostTLS(t, frames, false)
}

// newFrameHostTLS is newFrameHost, serving wss:// when useTLS (its
// certificate is trusted by h.Client()).
func newFrameHostTLS(t testing.TB, frames [][]byte, useTLS bool) *frameHost {
	h := &frameHost{frames: frames}
	up := websocket.Upgrader{}
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/xrpc/com.atproto.sync.getRepoStatus" {
			h.mu.Lock()
			body := h.repoStatus
			h.mu.Unlock()
			if body == "" {
				http.NotFound(w, req)
				return
			}
			w.Write([]byte(body))
			return
		}
		cursor := int64(-1)
		if c := req.URL.Query().Get("cursor"); c != "" {
			cursor, _ = strconv.ParseInt(c, 10, 64)
		}
		conn, err := up.Upgrade(w, req, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		h.mu.Lock()
		frames := append([][]byte(nil), h.frames...)
		wire, gate := h.wire, h.gate
		h.mu.Unlock()
		if wire != nil && cursor < 0 {
			h.serveWire(conn, wire, gate)
			frames = nil
		}
		for _, f := range frames {
			// A frame without a seq (garbage, text) is only sent on the
			// first connection, as a host would not repeat it.
			seq, ok, _ := firehose.PeekSeq(f)
			if cursor >= 0 && (!ok || seq <= cursor) {
				continue
			}
			typ := websocket.BinaryMessage
			if text, isText := bytes.CutPrefix(f, []byte(textPrefix)); isText {
				typ, f = websocket.TextMessage, text
			}
			if err := conn.WriteMessage(typ, f); err != nil {
				return
			}
		}
		for { // until the client goes away
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	if useTLS {
		h.StartTLS()
	} else {
		h.Start()
	}
	t.Cleanup(h.Close)
	return h
}

func (h *frameHost) hostname() string { return h.Listener.Addr().String() }

// startRelay runs a relay in dev mode until the test ends.
func startRelay(t testing.TB, cfg Config) *Relay {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Dev = true
	cfg.NoSync = true
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay Run: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("relay Close: %v", err)
		}
	})
	waitFor(t, "relay running", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.mu.runCtx != nil
	})
	return r
}

// waitFor polls cond; the deadline only turns a hang into a failure.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitHostCursor waits until the relay has committed host's events up to seq.
func waitHostCursor(t *testing.T, r *Relay, host string, seq int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("host %s cursor %d", host, seq), func() bool {
		c, ok, err := r.HostCursor(host)
		if err != nil {
			t.Fatal(err)
		}
		return ok && c >= seq
	})
}

// emitted returns every event in the relay's log.
func emitted(t *testing.T, r *Relay) []eventlog.Event {
	t.Helper()
	evs, err := r.events.ReadFrom(0, nil, 1<<20)
	if err != nil && !errors.Is(err, eventlog.ErrTrimmed) {
		t.Fatal(err)
	}
	return evs
}
