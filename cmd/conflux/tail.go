package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
)

const subscribeReposPath = "/xrpc/com.atproto.sync.subscribeRepos"

// errStreamError: the server sent an error frame, which ends the stream.
var errStreamError = errors.New("stream error frame")

// runTail prints a subscribeRepos stream, one line per event, until the
// server closes it, sends an error frame, or ctx is cancelled. It keeps to one
// connection and does not reconnect.
func runTail(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: conflux tail URL [--cursor N] [--json]")
		fmt.Fprintln(stderr, "URL is a host (wss://relay.example) or the full subscribeRepos URL.")
		fs.PrintDefaults()
	}
	cursor := fs.Int64("cursor", -1, "replay from after this seq (default: live tail)")
	asJSON := fs.Bool("json", false, "print each frame as one JSON object per line")
	target, err := parseTailArgs(fs, args)
	if err != nil {
		return err
	}
	u, err := subscribeURL(target, *cursor)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	t := tailer{stdout: stdout, asJSON: *asJSON}
	if *cursor >= 0 {
		t.last, t.haveLast = *cursor, true
	}
	err = t.run(ctx, u)
	if t.haveLast {
		fmt.Fprintf(stderr, "last cursor: %d\n", t.last)
	} else {
		fmt.Fprintln(stderr, "last cursor: none")
	}
	return err
}

// parseTailArgs allows the flags on either side of the URL, since the flag
// package stops at the first argument that is not a flag.
func parseTailArgs(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", fmt.Errorf("%w: tail -h", errUsage)
		}
		return "", fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return "", fmt.Errorf("%w: tail needs a URL", errUsage)
	}
	target := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%w: tail takes one URL, got extra %q", errUsage, fs.Args())
	}
	return target, nil
}

// subscribeURL makes the WebSocket URL: http(s) becomes ws(s), a bare host
// gets the subscribeRepos path, and a cursor >= 0 is added.
func subscribeURL(target string, cursor int64) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("tail URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("tail URL %q: want ws, wss, http or https", target)
	}
	if u.Host == "" {
		return "", fmt.Errorf("tail URL %q has no host", target)
	}
	if !strings.Contains(u.Path, "/xrpc/") {
		u.Path = strings.TrimSuffix(u.Path, "/") + subscribeReposPath
	}
	if cursor >= 0 {
		q := u.Query()
		q.Set("cursor", strconv.FormatInt(cursor, 10))
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

type tailer struct {
	stdout   io.Writer
	asJSON   bool
	last     int64
	haveLast bool
}

// run reads frames until the stream ends. A cancelled ctx or a normal close
// by the server is a clean end (nil).
func (t *tailer) run(ctx context.Context, u string) error {
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := dialer.DialContext(ctx, u, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if resp != nil {
			return fmt.Errorf("tail: dial %s: %w (HTTP %s)", u, err, resp.Status)
		}
		return fmt.Errorf("tail: dial %s: %w", u, err)
	}
	defer conn.Close()
	// The only way to interrupt a blocked read is to close the connection.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetReadLimit(firehose.MaxFrameSize)
	for {
		kind, b, err := conn.ReadMessage()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
				return nil
			}
			return fmt.Errorf("tail: read: %w", err)
		}
		if kind != websocket.BinaryMessage {
			return fmt.Errorf("tail: server sent a non-binary (type %d) message", kind)
		}
		if err := t.frame(b); err != nil {
			return err
		}
	}
}

// frame prints one frame. A frame that does not decode ends the stream, as
// the spec asks; an unknown type is printed and skipped.
func (t *tailer) frame(b []byte) error {
	f, err := firehose.DecodeFrame(b)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	if err := t.print(f); err != nil {
		return fmt.Errorf("tail: write: %w", err)
	}
	if seq, ok := f.Seq(); ok {
		t.last, t.haveLast = seq, true
	}
	if e, ok := f.Msg.(*firehose.ErrorFrame); ok {
		return fmt.Errorf("tail: %w: %s", errStreamError, withMessage(clean(e.Error), e.Message))
	}
	return nil
}

func (t *tailer) print(f firehose.Frame) error {
	var line []byte
	if t.asJSON {
		var err error
		if line, err = json.Marshal(f); err != nil {
			return err
		}
	} else {
		line = []byte(summary(f))
	}
	_, err := t.stdout.Write(append(line, '\n'))
	return err
}

// summary is the one-line text form of a frame.
func summary(f firehose.Frame) string {
	switch m := f.Msg.(type) {
	case *firehose.Commit:
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d %s %s rev=%s", m.Seq, f.Type, clean(m.Repo), clean(m.Rev))
		for _, op := range m.Ops {
			fmt.Fprintf(&sb, " %s %s", clean(op.Action), clean(op.Path))
		}
		return sb.String()
	case *firehose.Sync:
		return fmt.Sprintf("%d %s %s rev=%s", m.Seq, f.Type, clean(m.DID), clean(m.Rev))
	case *firehose.Identity:
		s := fmt.Sprintf("%d %s %s", m.Seq, f.Type, clean(m.DID))
		if m.Handle != "" {
			s += " handle=" + clean(m.Handle)
		}
		return s
	case *firehose.Account:
		s := fmt.Sprintf("%d %s %s active=%t", m.Seq, f.Type, clean(m.DID), m.Active)
		if m.Status != "" {
			s += " status=" + clean(m.Status)
		}
		return s
	case *firehose.Info:
		return withMessage(f.Type+" "+clean(m.Name), m.Message)
	case *firehose.ErrorFrame:
		return withMessage("error "+clean(m.Error), m.Message)
	}
	return clean(f.Type) + " (unknown type, skipped)"
}

func withMessage(s, msg string) string {
	if msg == "" {
		return s
	}
	return s + ": " + clean(msg)
}

// clean makes a string from the network safe to print on a terminal: a
// control character (an escape sequence, a newline splitting the line) is
// replaced by U+FFFD.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return unicode.ReplacementChar
		}
		return r
	}, s)
}
