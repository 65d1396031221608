package main

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/pdstest"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/pds/synthhost"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// testPDS runs a real PDS (did:web accounts, so no PLC directory is needed)
// behind an httptest server on 127.0.0.1.
type testPDS struct {
	pds *pds.PDS
	url string
}

func newTestPDS(t *testing.T) *testPDS {
	t.Helper()
	p, url := pdstest.Start(t, pds.Config{})
	return &testPDS{pds: p, url: url}
}

func (tp *testPDS) account(t *testing.T, handle, password string) string {
	t.Helper()
	a, err := tp.pds.CreateAccount(t.Context(), pds.CreateAccountInput{Handle: handle, Password: password})
	if err != nil {
		t.Fatalf("create %s: %v", handle, err)
	}
	return a.DID
}

// as returns the environment of a user logged in to tp.
func (tp *testPDS) as(handle, password string) env {
	vars := map[string]string{envPDS: tp.url, envHandle: handle, envPassword: password}
	return func(k string) string { return vars[k] }
}

// runCmd runs one conflux command and returns its stdout and stderr.
func runCmd(t *testing.T, getenv env, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// created parses "at://... cid" and returns the record from the PDS.
func (tp *testPDS) created(t *testing.T, stdout string) (syntax.ATURI, pds.Record) {
	t.Helper()
	fields := strings.Fields(stdout)
	if len(fields) != 2 {
		t.Fatalf("output %q, want \"URI CID\"", stdout)
	}
	u, err := syntax.ParseATURI(fields[0])
	if err != nil {
		t.Fatal(err)
	}
	rec, err := tp.pds.GetRecord(u.Authority().String(), u.Collection().String(), u.RecordKey().String())
	if err != nil {
		t.Fatalf("record %s: %v", u, err)
	}
	if rec.CID.String() != fields[1] || rec.URI != fields[0] {
		t.Fatalf("printed %q, stored %s %s", stdout, rec.URI, rec.CID)
	}
	return u, rec
}

// social is a PDS with two users, alice and bob, and a post by alice.
type social struct {
	tp               *testPDS
	aliceDID, bobDID string
	alice, bob       env
	postURI          syntax.ATURI
	post             pds.Record
	postByHandle     string // the post's URI with alice's handle as authority
}

func newSocial(t *testing.T) *social {
	t.Helper()
	tp := newTestPDS(t)
	s := &social{
		tp:       tp,
		aliceDID: tp.account(t, "alice.test", "alice-pw"),
		bobDID:   tp.account(t, "bob.test", "bob-pw"),
		alice:    tp.as("alice.test", "alice-pw"),
		bob:      tp.as("bob.test", "bob-pw"),
	}
	out, stderr, err := runCmd(t, s.alice, "post", "hello from alice")
	if err != nil {
		t.Fatalf("post: %v\n%s", err, stderr)
	}
	s.postURI, s.post = tp.created(t, out)
	s.postByHandle = "at://alice.test/app.bsky.feed.post/" + s.postURI.RecordKey().String()
	return s
}

func (s *social) postRef() map[string]any {
	return map[string]any{"uri": s.post.URI, "cid": s.post.CID.String()}
}

// TestPostFacets posts text with every facet kind after multi-byte text and
// checks the stored facets' byte offsets and features.
func TestPostFacets(t *testing.T) {
	t.Parallel()
	s := newSocial(t)
	text := "東京🎉 hi @Bob.test, see https://example.com/x. #café"
	out, stderr, err := runCmd(t, s.alice, "post", "--lang", "ja,en", text)
	if err != nil {
		t.Fatalf("post: %v\n%s", err, stderr)
	}
	_, post := s.tp.created(t, out)
	if post.Value["text"] != text || !reflect.DeepEqual(post.Value["langs"], []any{"ja", "en"}) {
		t.Fatalf("post value %v", post.Value)
	}
	facets := post.Value["facets"].([]any)
	wantSpans := []string{"@Bob.test", "https://example.com/x", "#café"}
	wantFeatures := []map[string]any{
		{"$type": "app.bsky.richtext.facet#mention", "did": s.bobDID},
		{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/x"},
		{"$type": "app.bsky.richtext.facet#tag", "tag": "café"},
	}
	if len(facets) != len(wantSpans) {
		t.Fatalf("facets %v", facets)
	}
	for i, f := range facets {
		f := f.(map[string]any)
		idx := f["index"].(map[string]any)
		span := text[idx["byteStart"].(int64):idx["byteEnd"].(int64)]
		feat := f["features"].([]any)[0]
		if span != wantSpans[i] || !reflect.DeepEqual(feat, any(wantFeatures[i])) {
			t.Errorf("facet %d spans %q with %v, want %q with %v", i, span, feat, wantSpans[i], wantFeatures[i])
		}
	}

	// An unknown mention stays plain text, with a note.
	out, stderr, err = runCmd(t, s.alice, "post", "hello", "@nobody.test")
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	if _, rec := s.tp.created(t, out); rec.Value["facets"] != nil || rec.Value["text"] != "hello @nobody.test" {
		t.Fatalf("unresolved mention: %v", rec.Value)
	}
	if !strings.Contains(stderr, "not linking @nobody.test") {
		t.Fatalf("stderr %q", stderr)
	}
}

// TestPostReplies replies to the top post, then to the reply: the root
// stays the top post. The parent is named by handle; the record names it
// by DID.
func TestPostReplies(t *testing.T) {
	t.Parallel()
	s := newSocial(t)
	out, _, err := runCmd(t, s.bob, "post", "--reply-to", s.postByHandle, "first reply")
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	replyURI, reply := s.tp.created(t, out)
	if !reflect.DeepEqual(reply.Value["reply"], map[string]any{"root": s.postRef(), "parent": s.postRef()}) {
		t.Fatalf("reply ref %v", reply.Value["reply"])
	}
	out, _, err = runCmd(t, s.alice, "post", "--reply-to", replyURI.String(), "second reply")
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	_, reply2 := s.tp.created(t, out)
	wantParent := map[string]any{"uri": reply.URI, "cid": reply.CID.String()}
	if !reflect.DeepEqual(reply2.Value["reply"], map[string]any{"root": s.postRef(), "parent": wantParent}) {
		t.Fatalf("nested reply ref %v", reply2.Value["reply"])
	}
}

func TestLikeFollowDelete(t *testing.T) {
	t.Parallel()
	s := newSocial(t)
	// Like: the subject gets the DID and the current CID.
	out, _, err := runCmd(t, s.bob, "like", s.postByHandle)
	if err != nil {
		t.Fatalf("like: %v", err)
	}
	if _, like := s.tp.created(t, out); !reflect.DeepEqual(like.Value["subject"], s.postRef()) {
		t.Fatalf("like subject %v", like.Value["subject"])
	}

	// Follow by handle (with or without '@') and by DID; flags given on
	// the command line win over the environment.
	for _, who := range []string{"bob.test", "@BOB.test", s.bobDID} {
		out, _, err = runCmd(t, s.bob, "follow", "--handle", "alice.test", "--password", "alice-pw", who)
		if err != nil {
			t.Fatalf("follow %s: %v", who, err)
		}
		u, follow := s.tp.created(t, out)
		if follow.Value["subject"] != s.bobDID || u.Authority().String() != s.aliceDID {
			t.Fatalf("follow %s: %s %v", who, u, follow.Value)
		}
	}

	// Delete: someone else's record is refused before any call; one's own
	// goes away.
	if _, _, err = runCmd(t, s.bob, "delete", s.postURI.String()); !errors.Is(err, errUsage) {
		t.Fatalf("bob deleting alice's post: %v", err)
	}
	out, _, err = runCmd(t, s.alice, "delete", s.postByHandle)
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if strings.TrimSpace(out) != "deleted "+s.postURI.String() {
		t.Fatalf("delete printed %q", out)
	}
	_, err = s.tp.pds.GetRecord(s.aliceDID, "app.bsky.feed.post", s.postURI.RecordKey().String())
	if !errors.Is(err, pds.ErrRecordNotFound) {
		t.Fatalf("post after delete: %v", err)
	}

	// Liking the deleted post: the server's error, printed as Name: message.
	_, _, err = runCmd(t, s.bob, "like", s.postURI.String())
	var xe *xrpcError
	if !errors.As(err, &xe) || xe.Name != "RecordNotFound" || !strings.HasPrefix(err.Error(), "RecordNotFound: ") {
		t.Fatalf("like of a deleted post: %v", err)
	}
}

func TestRecordCommandErrors(t *testing.T) {
	t.Parallel()
	tp := newTestPDS(t)
	tp.account(t, "carol.test", "carol-pw")
	carol := tp.as("carol.test", "carol-pw")

	_, _, err := runCmd(t, tp.as("carol.test", "wrong"), "post", "hi")
	var xe *xrpcError
	if !errors.As(err, &xe) || xe.Name != "AuthenticationRequired" || err.Error() != xe.Name+": "+xe.Message {
		t.Fatalf("wrong password: %v", err)
	}
	usage := [][]string{
		{"post"},                      // no text
		{"post", "--lang", "EN", "x"}, // bad language tag
		{"post", "--lang", "en,pt,ja,de", "x"},
		{"post", "--reply-to", "https://x", "x"},
		{"like"},
		{"like", "at://carol.test"}, // not a record
		{"like", "--cid", "nope", "at://carol.test/app.bsky.feed.post/3jzfcijpj2z2a"},
		{"follow", "not a handle"},
		{"delete", "a", "b"},
		{"post", "--pds", "ftp://x", "hi"},
		{"post", "-h"},
	}
	for _, args := range usage {
		if _, _, err := runCmd(t, carol, args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if _, _, err := runCmd(t, noEnv, "post", "hi"); !errors.Is(err, errUsage) {
		t.Errorf("no connection settings: %v, want a usage error", err)
	}
	// "--" ends the flags, so text may start with '-'.
	out, _, err := runCmd(t, carol, "post", "--lang", "en", "--", "-1 point", "--lang")
	if err != nil {
		t.Fatal(err)
	}
	if _, rec := tp.created(t, out); rec.Value["text"] != "-1 point --lang" {
		t.Fatalf("text %q", rec.Value["text"])
	}
	if _, _, err := runCmd(t, carol, "follow", "nobody.test"); !errors.As(err, &xe) {
		t.Fatalf("follow of an unknown handle: %v", err)
	}
}

func TestDecodeXRPC(t *testing.T) {
	t.Parallel()
	var out struct {
		DID string `json:"did"`
	}
	if err := decodeXRPC(200, []byte(`{"did":"did:plc:x"}`), &out); err != nil || out.DID != "did:plc:x" {
		t.Fatalf("ok answer: %v %+v", err, out)
	}
	if err := decodeXRPC(200, []byte(`{"did":`), &out); !errors.Is(err, errBadResponse) {
		t.Fatalf("truncated answer: %v", err)
	}
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{400, `{"error":"InvalidRequest","message":"bad rkey"}`, "InvalidRequest: bad rkey"},
		{401, `{"error":"AuthenticationRequired"}`, "AuthenticationRequired"},
		{502, `<html>bad gateway</html>`, "BadGateway"},
		{599, ``, "HTTP599"},
		{400, `{"error":"X","message":"line1\nline2\u0000"}`, "X: line1 line2 "},
	} {
		err := decodeXRPC(tc.status, []byte(tc.body), nil)
		var xe *xrpcError
		if !errors.As(err, &xe) || err.Error() != tc.want || xe.Status != tc.status {
			t.Errorf("status %d body %q: %v, want %q", tc.status, tc.body, err, tc.want)
		}
	}
}

func FuzzDecodeXRPC(f *testing.F) {
	f.Add(200, []byte(`{"accessJwt":"a","did":"did:plc:x","handle":"a.test"}`))
	f.Add(400, []byte(`{"error":"InvalidRequest","message":"m"}`))
	f.Add(500, []byte(`{"error":"`+strings.Repeat("é", 300)+`","message":"\u0007"}`))
	f.Add(404, []byte("\xff\xfe"))
	f.Add(200, []byte(`[]`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		var out struct {
			AccessJwt string `json:"accessJwt"`
			DID       string `json:"did"`
		}
		err := decodeXRPC(status, body, &out)
		var xe *xrpcError
		switch {
		case status < 200 || status > 299:
			if !errors.As(err, &xe) || xe.Name == "" {
				t.Fatalf("status %d: %v, want an xrpcError", status, err)
			}
			msg := err.Error()
			if !utf8.ValidString(msg) || strings.ContainsAny(msg, "\n\r\x00") || len(msg) > 700 {
				t.Fatalf("unbounded or unprintable error %q", msg)
			}
		case err != nil && !errors.Is(err, errBadResponse):
			t.Fatalf("status %d: %v", status, err)
		}
	})
}

// TestSynthAgainstPDS drives a real PDS through the adapter: every action
// must be accepted (lexicon-valid, blobs uploaded first, URIs and CIDs as
// the driver computed them), and the repos must hold what was written.
func TestSynthAgainstPDS(t *testing.T) {
	t.Parallel()
	tp := newTestPDS(t)
	d, err := synth.New(synth.Config{Host: synthhost.Host{PDS: tp.pds}, Users: 5, MaxWrites: 250, Seed: 11, HandleDomain: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := d.Stats()
	if s.Writes != 250 || s.Errors != 0 || s.Blobs == 0 {
		t.Fatalf("stats %+v", s)
	}
	for _, kind := range []string{"post", "reply", "like", "follow", "profile"} {
		if s.ByKind[kind] == 0 {
			t.Errorf("no %s in %v", kind, s.ByKind)
		}
	}
	accounts, err := tp.pds.Accounts()
	if err != nil || len(accounts) != 5 {
		t.Fatalf("accounts %v %v", len(accounts), err)
	}
	total := 0
	for _, a := range accounts {
		for _, c := range []string{"app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.feed.repost", "app.bsky.graph.follow", "app.bsky.actor.profile"} {
			recs, _, err := tp.pds.ListRecords(a.DID, c, 1000, "", false)
			if err != nil {
				t.Fatal(err)
			}
			total += len(recs)
		}
	}
	deletes := s.ByKind["delete_post"] + s.ByKind["delete_like"] + s.ByKind["delete_repost"] + s.ByKind["delete_follow"]
	profileUpdates := s.ByKind["profile"] - 5
	if want := int(s.Writes - 2*deletes - profileUpdates); total != want {
		t.Fatalf("repos hold %d records, want %d (writes %d, deletes %d, profile updates %d)",
			total, want, s.Writes, deletes, profileUpdates)
	}
	// A synthetic user's error from the host maps to synth.ErrNotFound.
	_, err = synthhost.Host{PDS: tp.pds}.ApplyWrites(t.Context(), accounts[0].DID, []synth.Write{{Action: "delete", Collection: "app.bsky.feed.post", RKey: "3jzfcijpj2z2a"}})
	if !errors.Is(err, synth.ErrNotFound) {
		t.Fatalf("delete of a missing record: %v", err)
	}
}
