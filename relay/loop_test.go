package relay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
)

// chunkConn is a net.Conn whose reads return data in chunks of n bytes.
type chunkConn struct {
	net.Conn
	data []byte
	n    int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

// relayHead reports whether data starts with a complete HTTP response head
// whose Server header names a relay.
func relayHead(data []byte) bool {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 || end+4 > maxHandshakeHead+4096 {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data[:end+4])), nil)
	return err == nil && isRelayServer(resp.Header.Get("Server"))
}

// FuzzSniffConn: whatever a host sends, in whatever chunks, the loop guard
// passes the bytes through unchanged, or refuses exactly when the response
// head names a relay; it never panics.
func FuzzSniffConn(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n\x82\x03abc",
		"HTTP/1.1 101 Switching Protocols\r\nServer: r/1 (atproto-relay)\r\n\r\n\x82\x01a",
		"HTTP/1.1 400 Bad Request\r\nServer: atproto-relay\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 OK\r\nServer: nginx\r\n\r\n",
		"HTTP/1.1 101\r\nServer:\r\n\r\n",
		"garbage without a head",
		"\r\n\r\n",
		"HTTP/1.1 101 X\r\nServer: a\r\nServer: atproto-relay\r\n\r\n",
		"",
	} {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(7))
		f.Add([]byte(s), uint8(255))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		refused := false
		c := &sniffConn{Conn: &chunkConn{data: bytes.Clone(data), n: int(chunk) + 1}, refuse: func() { refused = true }}
		var got []byte
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if errors.Is(err, ErrRelayLoop) {
				if !refused || !relayHead(data) {
					t.Fatalf("refused (callback %v) a stream whose head is not a relay's: %q", refused, data)
				}
				return
			}
			if err != nil {
				break
			}
		}
		if refused {
			t.Fatal("refuse called without ErrRelayLoop")
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("bytes changed: got %q, want %q", got, data)
		}
		if relayHead(data) && len(data) <= maxHandshakeHead {
			t.Fatalf("a relay's head passed: %q", data)
		}
	})
}
