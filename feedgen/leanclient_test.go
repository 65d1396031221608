package feedgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
)

// leanConn is a minimal HTTP/1.1 keep-alive client for load generation: it
// writes a pre-built GET and reads the response by its Content-Length (or
// its chunks), so a request costs the generator a few microseconds and the
// CPU of a small machine goes to the server under test, as it would with a
// load generator such as wrk in another process. net/http's client costs
// about as much per request as the server does.
type leanConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialLean(addr string) (*leanConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &leanConn{c: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

// leanRequest builds the bytes of a GET for rawURL.
func leanRequest(rawURL string) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.RequestURI(), u.Host), u.Host, nil
}

var errLeanResponse = errors.New("lean client: malformed response")

// do sends req and reads the whole response, returning its status code.
func (l *leanConn) do(req []byte) (int, error) {
	if _, err := l.c.Write(req); err != nil {
		return 0, err
	}
	line, err := l.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("%w: status line %q", errLeanResponse, line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("%w: status line %q", errLeanResponse, line)
	}
	length, chunked := -1, false
	for {
		h, err := l.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("%w: header %q", errLeanResponse, h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, fmt.Errorf("%w: Content-Length %q", errLeanResponse, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
	}
	switch {
	case chunked:
		return status, l.skipChunks()
	case length >= 0:
		_, err := l.r.Discard(length)
		return status, err
	default:
		return 0, fmt.Errorf("%w: no length", errLeanResponse)
	}
}

func (l *leanConn) skipChunks() error {
	for {
		line, err := l.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, err := strconv.ParseInt(string(bytes.TrimRight(line, "\r\n")), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("%w: chunk size %q", errLeanResponse, line)
		}
		if _, err := l.r.Discard(int(size) + 2); err != nil { // data and its CRLF
			return err
		}
		if size == 0 {
			return nil
		}
	}
}

// TestLeanClient checks the load generator against the real server: the
// same status and the same body length as net/http's client reads.
func TestLeanClient(t *testing.T) {
	db := memDB(t)
	g := newTestGenerator(t, db)
	batch := db.NewIndexedBatch()
	for i := range 1000 {
		uri := fmt.Sprintf("at://did:plc:bench/app.bsky.feed.post/%08d", i)
		if err := index.Add(batch, "all", "did:plc:bench", uri, int64(i/10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Commit(nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	for _, q := range []string{
		"feed=" + url.QueryEscape(g.FeedURI("all")) + "&limit=100",
		"feed=at%3A%2F%2Fdid%3Aweb%3Anope%2Fapp.bsky.feed.generator%2Fx",
	} {
		u := srv.URL + "/xrpc/app.bsky.feed.getFeedSkeleton?" + q
		req, host, err := leanRequest(u)
		if err != nil {
			t.Fatal(err)
		}
		lc, err := dialLean(host)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 { // keep-alive: the same connection serves each
			status, err := lc.do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Get(u)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if status == 200 && len(body) < 5000 {
				t.Fatalf("%s: a %d-byte page; want a full page of 100", q, len(body))
			}
			if status != resp.StatusCode {
				t.Fatalf("%s: lean client read status %d, net/http %d", q, status, resp.StatusCode)
			}
		}
		lc.c.Close()
	}
}

// BenchmarkGetFeedSkeleton500Lean is BenchmarkGetFeedSkeleton500 (500
// closed-loop clients, one keep-alive connection each, the same requests)
// with the lean load generator in place of net/http's client, so that the
// two cores serve rather than generate load.
func BenchmarkGetFeedSkeleton500Lean(b *testing.B) {
	sb := newSkeletonBench(b)
	reqs := make([][]byte, len(sb.urls))
	var host string
	for i, u := range sb.urls {
		var err error
		if reqs[i], host, err = leanRequest(u); err != nil {
			b.Fatal(err)
		}
	}
	conns := make([]*leanConn, benchClients)
	for c := range conns {
		lc, err := dialLean(host)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { lc.c.Close() })
		if status, err := lc.do(reqs[c%len(reqs)]); err != nil || status != 200 {
			b.Fatalf("warm-up: status %d, %v", status, err)
		}
		conns[c] = lc
	}
	lat := make([][]time.Duration, benchClients)
	per := max(b.N/benchClients, 1)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for c, lc := range conns {
		wg.Go(func() {
			for i := range per {
				start := time.Now()
				status, err := lc.do(reqs[(c+i)%len(reqs)])
				if err != nil || status != 200 {
					b.Errorf("status %d, %v", status, err)
					return
				}
				lat[c] = append(lat[c], time.Since(start))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	reportLatency(b, lat)
}
