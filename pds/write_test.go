package pds

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/pds/internal/token"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/mst"
)

type writeOut struct {
	URI, CID         string
	ValidationStatus string
	Commit           struct{ CID, Rev string }
}

// The XRPC write methods each make one commit with the right ops, and the
// reads see the result.
func TestXRPCWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	chk := newChecker(t, e.resolver)
	e.consume(chk, 0)
	did, auth := e.account("writer.test")

	var created writeOut
	e.mustXRPC("POST", "com.atproto.repo.createRecord", auth, map[string]any{
		"repo": did, "collection": "app.bsky.feed.post", "record": post("hello"),
	}, &created)
	if created.ValidationStatus != "valid" || !strings.HasPrefix(created.URI, "at://"+did+"/app.bsky.feed.post/") {
		t.Fatalf("createRecord: %+v", created)
	}
	rkey := created.URI[strings.LastIndexByte(created.URI, '/')+1:]

	var put writeOut
	e.mustXRPC("POST", "com.atproto.repo.putRecord", auth, map[string]any{
		"repo": "writer.test", "collection": "app.bsky.feed.post", "rkey": rkey, "record": post("edited"),
		"swapRecord": created.CID, "swapCommit": created.Commit.CID,
	}, &put)
	var got struct {
		URI, CID string
		Value    map[string]any
	}
	e.mustXRPC("GET", "com.atproto.repo.getRecord?repo="+did+"&collection=app.bsky.feed.post&rkey="+rkey, "", nil, &got)
	if got.CID != put.CID || got.Value["text"] != "edited" {
		t.Fatalf("getRecord after put: %+v", got)
	}
	// An unknown collection is accepted unvalidated; validate=true refuses it.
	var unk writeOut
	e.mustXRPC("POST", "com.atproto.repo.createRecord", auth, map[string]any{
		"repo": did, "collection": "com.example.thing", "rkey": "self", "record": map[string]any{"n": 1},
	}, &unk)
	if unk.ValidationStatus != "unknown" {
		t.Fatalf("unknown collection status %q", unk.ValidationStatus)
	}
	var aw struct {
		Commit  struct{ CID, Rev string }
		Results []map[string]any
	}
	e.mustXRPC("POST", "com.atproto.repo.applyWrites", auth, map[string]any{
		"repo": did,
		"writes": []any{
			map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "rkey": "3aaaaaaaaaaa2", "value": post("a")},
			map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": "app.bsky.feed.post", "rkey": rkey, "value": post("b")},
			map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "com.example.thing", "rkey": "self"},
		},
	}, &aw)
	if len(aw.Results) != 3 || aw.Results[2]["$type"] != "com.atproto.repo.applyWrites#deleteResult" {
		t.Fatalf("applyWrites results %v", aw.Results)
	}
	var del struct{ Commit *struct{ CID, Rev string } }
	e.mustXRPC("POST", "com.atproto.repo.deleteRecord", auth, map[string]any{
		"repo": did, "collection": "app.bsky.feed.post", "rkey": "3aaaaaaaaaaa2",
	}, &del)
	if del.Commit == nil {
		t.Fatal("deleteRecord made no commit")
	}
	// Deleting it again is a success without a commit.
	head := e.pds.events.Head()
	var del2 map[string]any
	e.mustXRPC("POST", "com.atproto.repo.deleteRecord", auth, map[string]any{
		"repo": did, "collection": "app.bsky.feed.post", "rkey": "3aaaaaaaaaaa2",
	}, &del2)
	if len(del2) != 0 || e.pds.events.Head() != head {
		t.Fatalf("second delete: %v, head %d -> %d", del2, head, e.pds.events.Head())
	}

	var list struct {
		Records []struct{ URI, CID string }
	}
	e.mustXRPC("GET", "com.atproto.repo.listRecords?repo="+did+"&collection=app.bsky.feed.post", "", nil, &list)
	if len(list.Records) != 1 || list.Records[0].URI != created.URI {
		t.Fatalf("listRecords %+v", list)
	}
	var desc struct {
		Handle      string
		Collections []string
	}
	e.mustXRPC("GET", "com.atproto.repo.describeRepo?repo="+did, "", nil, &desc)
	if desc.Handle != "writer.test" || len(desc.Collections) != 1 || desc.Collections[0] != "app.bsky.feed.post" {
		t.Fatalf("describeRepo %+v", desc)
	}

	waitFor(t, "all events", func() bool { chk.mu.Lock(); defer chk.mu.Unlock(); return chk.lastSeq == e.pds.events.Head() })
	chk.mu.Lock()
	defer chk.mu.Unlock()
	if len(chk.failures) > 0 {
		t.Fatalf("checker: %v", chk.failures)
	}
	// Commits after the first: create, update, create(unknown), the three
	// ops of applyWrites, delete.
	var actions [][]string
	for _, f := range chk.frames {
		if cm, ok := f.Msg.(*firehose.Commit); ok && cm.Since != "" {
			var a []string
			for _, op := range cm.Ops {
				a = append(a, op.Action)
			}
			actions = append(actions, a)
		}
	}
	want := "[[create] [update] [create] [create update delete] [delete]]"
	if got := fmtActions(actions); got != want {
		t.Fatalf("commit ops %s, want %s", got, want)
	}
}

func fmtActions(a [][]string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, ops := range a {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("[" + strings.Join(ops, " ") + "]")
	}
	b.WriteByte(']')
	return b.String()
}

// Bad writes get a clear XRPC error and write nothing: the head and the
// event log stay where they were.
func TestBadWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	did, auth := e.account("good.test")
	otherDID, otherAuth := e.account("other.test")
	var first writeOut
	e.mustXRPC("POST", "com.atproto.repo.createRecord", auth, map[string]any{
		"repo": did, "collection": "app.bsky.feed.post", "rkey": "3aaaaaaaaaaa2", "record": post("x"),
	}, &first)

	expired, err := token.Sign(e.pds.secret, token.Claims{Typ: token.TypAccess, Scope: token.ScopeAccess,
		Sub: did, Aud: e.pds.serviceDID, IAT: 1, EXP: 2})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := token.Sign(bytes.Repeat([]byte("k"), 32), token.Claims{Typ: token.TypAccess, Scope: token.ScopeAccess,
		Sub: did, Aud: e.pds.serviceDID, IAT: 1, EXP: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	refresh := func() string {
		var s struct{ RefreshJwt string }
		e.mustXRPC("POST", "com.atproto.server.createSession", "", map[string]string{"identifier": "good.test", "password": "pw-good.test"}, &s)
		return "Bearer " + s.RefreshJwt
	}()
	create := func(rec any, extra map[string]any) map[string]any {
		in := map[string]any{"repo": did, "collection": "app.bsky.feed.post", "record": rec}
		for k, v := range extra {
			in[k] = v
		}
		return in
	}
	big := post(strings.Repeat("x", 100))
	big["pad"] = strings.Repeat("y", MaxRecordSize)
	cases := []struct {
		name, method, auth string
		in                 map[string]any
		status             int
		errName, mention   string
	}{
		{"missing field", "createRecord", auth, create(map[string]any{"text": "no date"}, nil), 400, "InvalidRecord", "createdAt"},
		{"mistyped field", "createRecord", auth, create(map[string]any{"text": 5, "createdAt": "2026-01-02T03:04:05Z"}, nil), 400, "InvalidRecord", "text"},
		{"wrong $type", "createRecord", auth, create(map[string]any{"$type": "app.bsky.feed.like"}, nil), 400, "InvalidRecord", "$type"},
		{"not an object", "createRecord", auth, create("text", nil), 400, "InvalidRecord", "record"},
		{"float", "createRecord", auth, create(map[string]any{"text": "x", "createdAt": "2026-01-02T03:04:05Z", "n": 1.5}, nil), 400, "InvalidRequest", ""},
		{"over 1 MB", "createRecord", auth, create(big, nil), 400, "InvalidRecord", "1000000"},
		{"bad rkey", "createRecord", auth, create(post("x"), map[string]any{"rkey": "a/b"}), 400, "InvalidRequest", "rkey"},
		{"rkey type", "putRecord", auth, create(map[string]any{"$type": "app.bsky.actor.profile"}, map[string]any{"collection": "app.bsky.actor.profile", "rkey": "notself"}), 400, "InvalidRecord", "rkey"},
		{"bad collection", "createRecord", auth, create(post("x"), map[string]any{"collection": "not-an-nsid"}), 400, "InvalidRequest", "collection"},
		{"validate unknown", "createRecord", auth, create(map[string]any{"a": 1}, map[string]any{"collection": "com.example.x", "validate": true}), 400, "InvalidRequest", "lexicon"},
		{"missing repo", "createRecord", auth, map[string]any{"collection": "app.bsky.feed.post", "record": post("x")}, 400, "InvalidRequest", "repo"},
		{"unknown repo", "createRecord", auth, create(post("x"), map[string]any{"repo": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}), 400, "RepoNotFound", ""},
		{"other user's repo", "createRecord", otherAuth, create(post("x"), nil), 403, "Forbidden", otherDID},
		{"no token", "createRecord", "", create(post("x"), nil), 401, "AuthenticationRequired", ""},
		{"garbage token", "createRecord", "Bearer abc.def.ghi", create(post("x"), nil), 400, "InvalidToken", ""},
		{"forged token", "createRecord", "Bearer " + forged, create(post("x"), nil), 400, "InvalidToken", ""},
		{"expired token", "createRecord", "Bearer " + expired, create(post("x"), nil), 400, "ExpiredToken", ""},
		{"refresh token as access", "createRecord", refresh, create(post("x"), nil), 400, "InvalidToken", "scope"},
		{"wrong admin password", "createRecord", "Basic YWRtaW46d3Jvbmc=", create(post("x"), nil), 401, "AuthenticationRequired", ""},
		{"wrong swapCommit", "createRecord", auth, create(post("x"), map[string]any{"swapCommit": first.CID}), 400, "InvalidSwap", ""},
		{"wrong swapRecord", "putRecord", auth, create(post("x"), map[string]any{"rkey": "3aaaaaaaaaaa2", "swapRecord": first.Commit.CID}), 400, "InvalidSwap", ""},
		{"swapRecord on delete", "deleteRecord", auth, map[string]any{"repo": did, "collection": "app.bsky.feed.post", "rkey": "3aaaaaaaaaaa2", "swapRecord": first.Commit.CID}, 400, "InvalidSwap", ""},
		{"create existing", "createRecord", auth, create(post("x"), map[string]any{"rkey": "3aaaaaaaaaaa2"}), 400, "InvalidRequest", "exists"},
		{"blob not uploaded", "createRecord", auth, create(map[string]any{"$type": "app.bsky.actor.profile", "avatar": map[string]any{
			"$type": "blob", "ref": map[string]any{"$link": first.CID}, "mimeType": "image/png", "size": 10}},
			map[string]any{"collection": "app.bsky.actor.profile", "rkey": "self"}), 400, "BlobNotFound", ""},
		{"applyWrites path twice", "applyWrites", auth, map[string]any{"repo": did, "writes": []any{
			map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "rkey": "3bbbbbbbbbbb2", "value": post("1")},
			map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": "3bbbbbbbbbbb2"},
		}}, 400, "InvalidRequest", "twice"},
		{"applyWrites one bad of two", "applyWrites", auth, map[string]any{"repo": did, "writes": []any{
			map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post("1")},
			map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": map[string]any{"text": 1}},
		}}, 400, "InvalidRecord", "write 1"},
		{"applyWrites bad $type", "applyWrites", auth, map[string]any{"repo": did, "writes": []any{
			map[string]any{"$type": "com.atproto.repo.applyWrites#upsert", "collection": "app.bsky.feed.post", "value": post("1")},
		}}, 400, "InvalidRequest", "upsert"},
		{"applyWrites over 2 MB of blocks", "applyWrites", auth, map[string]any{"repo": did, "writes": []any{
			map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.big", "value": map[string]any{"pad": strings.Repeat("a", 900_000)}},
			map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.big", "value": map[string]any{"pad": strings.Repeat("b", 900_000)}},
			map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.big", "value": map[string]any{"pad": strings.Repeat("c", 900_000)}},
		}}, 400, "InvalidRequest", "too large"},
		{"applyWrites empty", "applyWrites", auth, map[string]any{"repo": did, "writes": []any{}}, 400, "InvalidRequest", ""},
	}
	for _, tc := range cases {
		head, seq := e.pds.readHead(t, did), e.pds.events.Head()
		otherHead := e.pds.readHead(t, otherDID)
		status, name, msg := e.xrpc("POST", "com.atproto.repo."+tc.method, tc.auth, tc.in, nil)
		if status != tc.status || name != tc.errName || !strings.Contains(msg, tc.mention) {
			t.Errorf("%s: %d %s %q, want %d %s mentioning %q", tc.name, status, name, msg, tc.status, tc.errName, tc.mention)
		}
		if e.pds.readHead(t, did) != head || e.pds.readHead(t, otherDID) != otherHead || e.pds.events.Head() != seq {
			t.Errorf("%s: something was written", tc.name)
		}
	}
	// The in-process API refuses the same things with the sentinels.
	_, err = e.pds.ApplyWrites(t.Context(), did, []Write{{Action: repo.Create, Collection: "app.bsky.feed.post", Value: map[string]any{"text": true, "createdAt": "2026-01-02T03:04:05Z"}}}, cid.Undef)
	if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "record/text") {
		t.Fatalf("in-process invalid record: %v", err)
	}
	if status, name, _ := e.xrpc("GET", "com.atproto.repo.noSuchMethod", "", nil, nil); status != http.StatusNotImplemented || name != "MethodNotImplemented" {
		t.Fatalf("unknown method: %d %s", status, name)
	}
}

// readHead returns did's stored head commit (read from the store, not the
// in-memory state).
func (p *PDS) readHead(t *testing.T, did string) cid.CID {
	t.Helper()
	_, head, err := snapshotState(p.db, did)
	if err != nil {
		t.Fatal(err)
	}
	return head.Commit
}

// Deleting a repo's only record leaves the empty tree, and the next create
// gives the same root as a tree built from scratch (a known pitfall of
// other MST implementations); the checker inverts every step.
func TestEmptyTreeRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	chk := newChecker(t, e.resolver)
	e.consume(chk, 0)
	acct, err := e.pds.CreateAccount(t.Context(), CreateAccountInput{Handle: "empty.test"})
	if err != nil {
		t.Fatal(err)
	}
	do := func(w Write) CommitResult {
		t.Helper()
		res, err := e.pds.ApplyWrites(t.Context(), acct.DID, []Write{w}, cid.Undef)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := do(Write{Action: repo.Create, Collection: "app.bsky.feed.post", RKey: "3aaaaaaaaaaa2", Value: post("1")})
	do(Write{Action: repo.Delete, Collection: "app.bsky.feed.post", RKey: "3aaaaaaaaaaa2"})
	second := do(Write{Action: repo.Create, Collection: "app.bsky.feed.post", RKey: "3bbbbbbbbbbb2", Value: post("2")})
	waitFor(t, "events", func() bool { chk.mu.Lock(); defer chk.mu.Unlock(); return chk.lastSeq == second.Seq })
	chk.mu.Lock()
	defer chk.mu.Unlock()
	if len(chk.failures) > 0 {
		t.Fatalf("checker: %v", chk.failures)
	}
	want := mst.New()
	if _, err := want.Put("app.bsky.feed.post/3bbbbbbbbbbb2", second.Results[0].CID); err != nil {
		t.Fatal(err)
	}
	root, _ := want.Root()
	if chk.lastData[acct.DID] != root.String() {
		t.Fatalf("root %s, from scratch %s", chk.lastData[acct.DID], root)
	}
	if cm := chk.commits[first.Seq+1]; cm == nil || cm.Ops[0].Action != "delete" {
		t.Fatalf("delete commit: %+v", cm)
	}
}
