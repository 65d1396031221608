package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// The post, like, follow and delete commands write one record to a PDS
// over XRPC as a client would: log in with createSession, then
// createRecord or deleteRecord with the session's access token.

// Environment variables that default the connection flags.
const (
	envPDS      = "CONFLUX_PDS"
	envHandle   = "CONFLUX_HANDLE"
	envPassword = "CONFLUX_PASSWORD"
)

// maxXRPCResponse bounds a response body read into memory: the answers
// these commands read are small JSON objects.
const maxXRPCResponse = 1 << 20

// errBadResponse: the server answered with something that is not the
// lexicon's output.
var errBadResponse = errors.New("bad XRPC response")

// xrpcError is an error answer from the server. It prints as
// "Name: message", the way the server named it.
type xrpcError struct {
	Status  int
	Name    string
	Message string
}

func (e *xrpcError) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// session is a logged-in XRPC client for one account.
type session struct {
	base   string // the PDS's origin, no trailing slash
	client *http.Client
	token  string
	did    string
	handle string
}

// connFlags are the flags every record command shares.
type connFlags struct {
	pds, handle, password string
}

// newRecordFlags makes a command's flag set with the shared flags,
// defaulted from the environment.
func newRecordFlags(name, usage string, getenv env, stderr io.Writer) (*flag.FlagSet, *connFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: conflux", name, "--pds URL --handle H --password P", usage)
		fmt.Fprintf(stderr, "The flags default to $%s, $%s and $%s.\n", envPDS, envHandle, envPassword)
		fs.PrintDefaults()
	}
	c := &connFlags{}
	fs.StringVar(&c.pds, "pds", getenv(envPDS), "the PDS URL (http://host:port)")
	fs.StringVar(&c.handle, "handle", getenv(envHandle), "the account's handle (or DID) to log in as")
	fs.StringVar(&c.password, "password", getenv(envPassword), "the account's password")
	return fs, c
}

// parseRecordArgs parses flags and positional arguments in any order (the
// flag package alone stops at the first positional one) and checks that
// the connection flags are set and that there are want positionals
// (want < 0: at least one).
func parseRecordArgs(fs *flag.FlagSet, c *connFlags, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, fmt.Errorf("%w: %s -h", errUsage, fs.Name())
			}
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is an argument
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case c.pds == "" || c.handle == "" || c.password == "":
		fs.Usage()
		return nil, fmt.Errorf("%w: %s needs --pds, --handle and --password (or $%s, $%s, $%s)",
			errUsage, fs.Name(), envPDS, envHandle, envPassword)
	case want < 0 && len(pos) == 0, want >= 0 && len(pos) != want:
		fs.Usage()
		return nil, fmt.Errorf("%w: %s: wrong number of arguments: %q", errUsage, fs.Name(), pos)
	}
	return pos, nil
}

// runPost creates an app.bsky.feed.post with the given text, adding facets
// for the mentions, links and hashtags in it.
func runPost(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, c := newRecordFlags("post", `[--lang en,pt] [--reply-to at://...] "text"`, getenv, stderr)
	langFlag := fs.String("lang", "", "comma-separated language tags of the text (at most 3)")
	replyTo := fs.String("reply-to", "", "the at:// URI of the post this one replies to")
	pos, err := parseRecordArgs(fs, c, args, -1)
	if err != nil {
		return err
	}
	text := strings.Join(pos, " ")
	if strings.TrimSpace(text) == "" || !utf8.ValidString(text) {
		return fmt.Errorf("%w: post needs non-empty UTF-8 text", errUsage)
	}
	langs, err := parseLangs(*langFlag)
	if err != nil {
		return err
	}
	var parent syntax.ATURI
	if *replyTo != "" {
		if parent, err = parseRecordURI(*replyTo); err != nil {
			return err
		}
	}
	s, err := login(ctx, c)
	if err != nil {
		return err
	}
	rec := map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": nowDatetime()}
	if len(langs) > 0 {
		rec["langs"] = langs
	}
	if facets, err := s.facets(ctx, text, stderr); err != nil {
		return err
	} else if len(facets) > 0 {
		rec["facets"] = facets
	}
	if *replyTo != "" {
		reply, err := s.replyRef(ctx, parent)
		if err != nil {
			return err
		}
		rec["reply"] = reply
	}
	return s.createAndPrint(ctx, "app.bsky.feed.post", rec, stdout)
}

// runLike likes a record (usually a post) given by its at:// URI.
func runLike(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, c := newRecordFlags("like", "[--cid CID] at://did/app.bsky.feed.post/rkey", getenv, stderr)
	cidFlag := fs.String("cid", "", "the record's CID (default: looked up with getRecord on the PDS)")
	pos, err := parseRecordArgs(fs, c, args, 1)
	if err != nil {
		return err
	}
	subject, err := parseRecordURI(pos[0])
	if err != nil {
		return err
	}
	s, err := login(ctx, c)
	if err != nil {
		return err
	}
	ref, err := s.strongRef(ctx, subject, *cidFlag)
	if err != nil {
		return err
	}
	rec := map[string]any{"$type": "app.bsky.feed.like", "subject": ref.value(), "createdAt": nowDatetime()}
	return s.createAndPrint(ctx, "app.bsky.feed.like", rec, stdout)
}

// runFollow follows an account given by DID or handle.
func runFollow(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, c := newRecordFlags("follow", "did-or-handle", getenv, stderr)
	pos, err := parseRecordArgs(fs, c, args, 1)
	if err != nil {
		return err
	}
	ident, err := syntax.ParseAtIdentifier(strings.TrimPrefix(pos[0], "@"))
	if err != nil {
		return fmt.Errorf("%w: follow: %w", errUsage, err)
	}
	s, err := login(ctx, c)
	if err != nil {
		return err
	}
	did, err := s.resolve(ctx, ident)
	if err != nil {
		return err
	}
	rec := map[string]any{"$type": "app.bsky.graph.follow", "subject": did, "createdAt": nowDatetime()}
	return s.createAndPrint(ctx, "app.bsky.graph.follow", rec, stdout)
}

// runDelete deletes one of the account's own records.
func runDelete(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, c := newRecordFlags("delete", "at://did/collection/rkey", getenv, stderr)
	pos, err := parseRecordArgs(fs, c, args, 1)
	if err != nil {
		return err
	}
	u, err := parseRecordURI(pos[0])
	if err != nil {
		return err
	}
	s, err := login(ctx, c)
	if err != nil {
		return err
	}
	auth := u.Authority().Normalize().String()
	if auth != s.did && auth != strings.ToLower(s.handle) {
		return fmt.Errorf("%w: delete: %s is not a record of %s (%s)", errUsage, u, s.handle, s.did)
	}
	in := map[string]any{"repo": s.did, "collection": u.Collection().String(), "rkey": u.RecordKey().String()}
	if err := s.call(ctx, http.MethodPost, "com.atproto.repo.deleteRecord", nil, in, nil); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "deleted", syntax.RecordURI(syntax.DID(s.did), u.Collection(), u.RecordKey()))
	return nil
}

func parseLangs(s string) ([]any, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > 3 {
		return nil, fmt.Errorf("%w: at most 3 languages, got %q", errUsage, s)
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		l, err := syntax.ParseLanguage(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%w: --lang: %w", errUsage, err)
		}
		out[i] = l.String()
	}
	return out, nil
}

// parseRecordURI accepts an at:// URI naming one record.
func parseRecordURI(s string) (syntax.ATURI, error) {
	u, err := syntax.ParseATURI(s)
	if err != nil {
		return u, fmt.Errorf("%w: %w", errUsage, err)
	}
	if u.RecordKey() == "" || u.Fragment() != "" {
		return u, fmt.Errorf("%w: %s does not name a record (at://repo/collection/rkey)", errUsage, s)
	}
	return u, nil
}

func nowDatetime() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// login opens a session with createSession.
func login(ctx context.Context, c *connFlags) (*session, error) {
	base, err := pdsBase(c.pds)
	if err != nil {
		return nil, err
	}
	s := &session{base: base, client: &http.Client{Timeout: 30 * time.Second}}
	var out struct {
		AccessJwt string `json:"accessJwt"`
		DID       string `json:"did"`
		Handle    string `json:"handle"`
	}
	in := map[string]any{"identifier": c.handle, "password": c.password}
	if err := s.call(ctx, http.MethodPost, "com.atproto.server.createSession", nil, in, &out); err != nil {
		return nil, err
	}
	if out.AccessJwt == "" {
		return nil, fmt.Errorf("createSession: %w: no accessJwt", errBadResponse)
	}
	if _, err := syntax.ParseDID(out.DID); err != nil {
		return nil, fmt.Errorf("createSession: %w: %w", errBadResponse, err)
	}
	s.token, s.did, s.handle = out.AccessJwt, out.DID, out.Handle
	return s, nil
}

func pdsBase(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: --pds %q: want an http(s) URL", errUsage, s)
	}
	return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// call makes one XRPC call: a GET with params, or a POST with in as the
// JSON body. out, if non-nil, receives the JSON answer.
func (s *session) call(ctx context.Context, method, nsid string, params url.Values, in, out any) error {
	u := s.base + "/xrpc/" + nsid
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: %w", nsid, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s: %w", nsid, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", nsid, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxXRPCResponse+1))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", nsid, err)
	}
	if len(b) > maxXRPCResponse {
		return fmt.Errorf("%s: %w: answer over %d bytes", nsid, errBadResponse, maxXRPCResponse)
	}
	if err := decodeXRPC(resp.StatusCode, b, out); err != nil {
		var xe *xrpcError
		if errors.As(err, &xe) {
			return err // printed as the server named it
		}
		return fmt.Errorf("%s: %w", nsid, err)
	}
	return nil
}

// decodeXRPC interprets an answer: a 2xx body is decoded into out (if
// non-nil); any other status becomes an *xrpcError, named by the body's
// {"error", "message"} when it has them and by the HTTP status when not.
func decodeXRPC(status int, body []byte, out any) error {
	if status < 200 || status > 299 {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.ReplaceAll(http.StatusText(status), " ", "")
			if e.Error == "" {
				e.Error = fmt.Sprintf("HTTP%d", status)
			}
			e.Message = ""
		}
		return &xrpcError{Status: status, Name: clip(e.Error, 100), Message: clip(e.Message, 500)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %w", errBadResponse, err)
	}
	return nil
}

// clip bounds a server-supplied string before it is printed, keeping it
// valid UTF-8 and on one line.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// resolve turns a handle into a DID with resolveHandle; a DID is returned
// as it is.
func (s *session) resolve(ctx context.Context, ident syntax.AtIdentifier) (string, error) {
	if did, ok := ident.AsDID(); ok {
		return string(did), nil
	}
	var out struct {
		DID string `json:"did"`
	}
	params := url.Values{"handle": {ident.Normalize().String()}}
	if err := s.call(ctx, http.MethodGet, "com.atproto.identity.resolveHandle", params, nil, &out); err != nil {
		return "", err
	}
	if _, err := syntax.ParseDID(out.DID); err != nil {
		return "", fmt.Errorf("resolveHandle: %w: %w", errBadResponse, err)
	}
	return out.DID, nil
}

// facets detects the facets of text. A mention whose handle does not
// resolve is left as plain text, with a note on stderr.
func (s *session) facets(ctx context.Context, text string, stderr io.Writer) ([]any, error) {
	detected := synth.DetectFacets(text)
	dids := map[string]string{}
	for _, f := range detected {
		if f.Kind != synth.FacetMention {
			continue
		}
		if _, done := dids[f.Value]; done {
			continue
		}
		did, err := s.resolve(ctx, syntax.AtIdentifier(f.Value))
		var xe *xrpcError
		switch {
		case errors.As(err, &xe):
			fmt.Fprintf(stderr, "not linking @%s: %v\n", f.Value, err)
		case err != nil:
			return nil, err
		}
		dids[f.Value] = did
	}
	return synth.FacetsValue(detected, func(h string) (string, bool) {
		did := dids[h]
		return did, did != ""
	}), nil
}

// recordRef is a com.atproto.repo.strongRef.
type recordRef struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

func (r recordRef) value() map[string]any { return map[string]any{"uri": r.URI, "cid": r.CID} }

func (r recordRef) valid() bool {
	_, err := syntax.ParseATURI(r.URI)
	_, cerr := cid.Decode(r.CID)
	return err == nil && cerr == nil
}

// getRecord fetches a record's URI (with the DID as authority), CID and,
// if it is a reply, its thread root.
func (s *session) getRecord(ctx context.Context, u syntax.ATURI) (recordRef, *recordRef, error) {
	var out struct {
		recordRef
		Value struct {
			Reply struct {
				Root recordRef `json:"root"`
			} `json:"reply"`
		} `json:"value"`
	}
	params := url.Values{
		"repo":       {u.Authority().String()},
		"collection": {u.Collection().String()},
		"rkey":       {u.RecordKey().String()},
	}
	if err := s.call(ctx, http.MethodGet, "com.atproto.repo.getRecord", params, nil, &out); err != nil {
		return recordRef{}, nil, err
	}
	if !out.recordRef.valid() {
		return recordRef{}, nil, fmt.Errorf("getRecord %s: %w: uri %q cid %q", u, errBadResponse, out.URI, out.CID)
	}
	if root := out.Value.Reply.Root; root.valid() {
		return out.recordRef, &root, nil
	}
	return out.recordRef, nil, nil
}

// strongRef pins u to a CID: the given one, or the current one from
// getRecord (which also puts the DID in the URI).
func (s *session) strongRef(ctx context.Context, u syntax.ATURI, cidStr string) (recordRef, error) {
	if cidStr == "" {
		ref, _, err := s.getRecord(ctx, u)
		return ref, err
	}
	if _, err := cid.Decode(cidStr); err != nil {
		return recordRef{}, fmt.Errorf("%w: --cid: %w", errUsage, err)
	}
	did, err := s.resolve(ctx, u.Authority())
	if err != nil {
		return recordRef{}, err
	}
	return recordRef{URI: syntax.RecordURI(syntax.DID(did), u.Collection(), u.RecordKey()).String(), CID: cidStr}, nil
}

// replyRef builds a post's reply field: the parent, and the parent's root
// (or the parent itself when it starts the thread).
func (s *session) replyRef(ctx context.Context, parent syntax.ATURI) (map[string]any, error) {
	p, root, err := s.getRecord(ctx, parent)
	if err != nil {
		return nil, err
	}
	if root == nil {
		root = &p
	}
	return map[string]any{"root": root.value(), "parent": p.value()}, nil
}

// createAndPrint creates rec in the session's repo and prints its URI and
// CID.
func (s *session) createAndPrint(ctx context.Context, collection string, rec map[string]any, stdout io.Writer) error {
	var out recordRef
	in := map[string]any{"repo": s.did, "collection": collection, "record": rec}
	if err := s.call(ctx, http.MethodPost, "com.atproto.repo.createRecord", nil, in, &out); err != nil {
		return err
	}
	if !out.valid() {
		return fmt.Errorf("createRecord: %w: uri %q cid %q", errBadResponse, out.URI, out.CID)
	}
	fmt.Fprintln(stdout, out.URI, out.CID)
	return nil
}
