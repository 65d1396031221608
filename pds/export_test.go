package pds

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// getRepo with since holds the blocks written after that rev and none of
// the blocks only earlier commits wrote; the full export loads to the same
// tree as the head.
func TestGetRepoSince(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	did, _ := e.account("since.test")
	write := func(texts ...string) CommitResult {
		t.Helper()
		var ws []Write
		for _, s := range texts {
			ws = append(ws, Write{Action: repo.Create, Collection: "app.bsky.feed.post", Value: post(s)})
		}
		res, err := e.pds.ApplyWrites(t.Context(), did, ws, cid.Undef)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var early []CommitResult
	for i := range 30 {
		early = append(early, write(fmt.Sprintf("early %d", i)))
	}
	mid := early[len(early)-1]
	late := []CommitResult{write("late 1", "late 2"), write("late 3")}

	var raw []byte
	e.mustXRPC("GET", "com.atproto.sync.getRepo?did="+url.QueryEscape(did)+"&since="+mid.Rev, "", nil, &raw)
	roots, blocks := readCAR(t, raw)
	if roots[0] != late[1].Commit {
		t.Fatalf("since export root %s, want the head %s", roots[0], late[1].Commit)
	}
	for _, r := range late {
		for _, wr := range r.Results {
			if _, ok := blocks[wr.CID]; !ok {
				t.Fatalf("since export lacks new record %s", wr.URI)
			}
		}
	}
	if _, ok := blocks[late[0].Commit]; !ok {
		t.Fatal("since export lacks the intermediate commit")
	}
	for _, r := range early {
		if _, ok := blocks[r.Commit]; ok {
			t.Fatalf("since export holds old commit %s", r.Rev)
		}
		for _, wr := range r.Results {
			if _, ok := blocks[wr.CID]; ok {
				t.Fatalf("since export holds old record %s", wr.URI)
			}
		}
	}
	// Its new root node is there, so a holder of the old repo can apply it.
	head, err := repo.ParseCommit(blocks[roots[0]])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := blocks[head.Data]; !ok {
		t.Fatal("since export lacks the new MST root")
	}
	// The full export: every record, the right root.
	got := exportedRecords(t, e, did, head.Data.String())
	if len(got) != 33 {
		t.Fatalf("full export has %d records, want 33", len(got))
	}
	if status, name, _ := e.xrpc("GET", "com.atproto.sync.getRepo?did="+did+"&since=notatid", "", nil, nil); status != http.StatusBadRequest || name != "InvalidRequest" {
		t.Fatalf("bad since: %d %s", status, name)
	}
}

// tidRKey is the i-th of a run of TID record keys.
func tidRKey(i int) string { return string(syntax.NewTID(1_700_000_000_000_000+int64(i)*1000, 0)) }

// sync.getRecord proves presence and absence with just the path; getBlocks
// returns what is asked; getLatestCommit and listRepos agree with the heads.
func TestSyncReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var dids []string
	for i := range 5 {
		did, _ := e.account(fmt.Sprintf("s%d.test", i))
		dids = append(dids, did)
	}
	did := dids[0]
	var last CommitResult
	for i := range 40 {
		var err error
		last, err = e.pds.ApplyWrites(t.Context(), did, []Write{{Action: repo.Create, Collection: "app.bsky.feed.post",
			RKey: tidRKey(i), Value: post(fmt.Sprint(i))}}, cid.Undef)
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		rkey    string
		present bool
	}{{tidRKey(7), true}, {tidRKey(39), true}, {tidRKey(999), false}, {"2222222222222", false}} {
		var raw []byte
		e.mustXRPC("GET", "com.atproto.sync.getRecord?did="+did+"&collection=app.bsky.feed.post&rkey="+tc.rkey, "", nil, &raw)
		roots, blocks := readCAR(t, raw)
		commit, err := repo.ParseCommit(blocks[roots[0]])
		if err != nil || roots[0] != last.Commit {
			t.Fatalf("%s: root %s (%v), want %s", tc.rkey, roots[0], err, last.Commit)
		}
		// The proof alone (a partial tree) answers the lookup.
		v, found, err := mst.Load(mst.MemBlocks(blocks), commit.Data).Get("app.bsky.feed.post/" + tc.rkey)
		if err != nil || found != tc.present {
			t.Fatalf("%s: proof lookup found=%v err=%v", tc.rkey, found, err)
		}
		if found {
			if _, ok := blocks[v]; !ok {
				t.Fatalf("%s: record block missing", tc.rkey)
			}
		}
		if len(blocks) > 8 {
			t.Fatalf("%s: %d blocks: more than a path", tc.rkey, len(blocks))
		}
	}
	var lc struct{ CID, Rev string }
	e.mustXRPC("GET", "com.atproto.sync.getLatestCommit?did="+did, "", nil, &lc)
	if lc.CID != last.Commit.String() || lc.Rev != last.Rev {
		t.Fatalf("getLatestCommit %+v, want %s %s", lc, last.Commit, last.Rev)
	}
	var raw []byte
	e.mustXRPC("GET", "com.atproto.sync.getBlocks?did="+did+"&cids="+last.Commit.String()+"&cids="+last.Results[0].CID.String(), "", nil, &raw)
	if _, blocks := readCAR(t, raw); len(blocks) != 2 {
		t.Fatalf("getBlocks returned %d blocks", len(blocks))
	}
	if status, name, _ := e.xrpc("GET", "com.atproto.sync.getBlocks?did="+did+"&cids="+mst.EmptyRoot.String()+"x", "", nil, nil); status != http.StatusBadRequest || name != "InvalidRequest" {
		t.Fatalf("getBlocks of a bad cid: %d %s", status, name)
	}

	// listRepos pages through every account in creation order.
	var listed []string
	cursor := ""
	for pages := 0; ; pages++ {
		var page struct {
			Cursor string
			Repos  []struct {
				DID, Head, Rev string
				Active         bool
			}
		}
		e.mustXRPC("GET", "com.atproto.sync.listRepos?limit=2&cursor="+cursor, "", nil, &page)
		for _, r := range page.Repos {
			if !r.Active || r.Head == "" || r.Rev == "" {
				t.Fatalf("listRepos entry %+v", r)
			}
			listed = append(listed, r.DID)
		}
		if page.Cursor == "" {
			break
		}
		cursor = page.Cursor
		if pages > 5 {
			t.Fatal("listRepos does not end")
		}
	}
	if fmt.Sprint(listed) != fmt.Sprint(dids) {
		t.Fatalf("listRepos %v, want %v", listed, dids)
	}
	if status, _, _ := e.xrpc("GET", "com.atproto.sync.listRepos?limit=0", "", nil, nil); status != http.StatusBadRequest {
		t.Fatalf("limit=0: %d", status)
	}
}

// Blobs: upload, reference from a record, fetch.
func TestBlobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	did, auth := e.account("blob.test")
	data := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 100)
	req, _ := http.NewRequest("POST", e.url+"/xrpc/com.atproto.repo.uploadBlob", bytes.NewReader(data))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "image/png")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("uploadBlob: %d %s", resp.StatusCode, body)
	}
	want := cid.Sum(cid.Raw, data)
	profile := map[string]any{"$type": "app.bsky.actor.profile", "displayName": "B",
		"avatar": map[string]any{"$type": "blob", "ref": map[string]any{"$link": want.String()}, "mimeType": "image/png", "size": len(data)}}
	e.mustXRPC("POST", "com.atproto.repo.putRecord", auth, map[string]any{"repo": did, "collection": "app.bsky.actor.profile", "rkey": "self", "record": profile}, nil)
	resp, err = http.Get(e.url + "/xrpc/com.atproto.sync.getBlob?did=" + did + "&cid=" + want.String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("getBlob: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
	}
	var rec struct{ Value map[string]any }
	e.mustXRPC("GET", "com.atproto.repo.getRecord?repo=blob.test&collection=app.bsky.actor.profile&rkey=self", "", nil, &rec)
	if ref := rec.Value["avatar"].(map[string]any)["ref"].(map[string]any)["$link"]; ref != want.String() {
		t.Fatalf("record's blob ref %v", ref)
	}
	if _, err := e.pds.UploadBlob(t.Context(), did, "image/png", make([]byte, DefaultMaxBlobSize+1)); err == nil {
		t.Fatal("oversized blob accepted")
	}
}

// Server and identity endpoints.
func TestServerEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	did, _ := e.account("ident.test")
	var ds struct {
		DID                  string
		AvailableUserDomains []string
	}
	e.mustXRPC("GET", "com.atproto.server.describeServer", "", nil, &ds)
	if ds.DID != e.pds.ServiceDID() || fmt.Sprint(ds.AvailableUserDomains) != "[.test]" {
		t.Fatalf("describeServer %+v", ds)
	}
	var rh struct{ DID string }
	e.mustXRPC("GET", "com.atproto.identity.resolveHandle?handle=IDENT.test", "", nil, &rh)
	if rh.DID != did {
		t.Fatalf("resolveHandle %+v", rh)
	}
	if status, name, _ := e.xrpc("GET", "com.atproto.identity.resolveHandle?handle=nobody.test", "", nil, nil); status != 400 || name != "HandleNotFound" {
		t.Fatalf("resolveHandle of nobody: %d %s", status, name)
	}
	req, _ := http.NewRequest("GET", e.url+"/.well-known/atproto-did", nil)
	req.Host = "ident.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != did {
		t.Fatalf("well-known atproto-did %q", b)
	}
	var health map[string]string
	e.mustXRPC("GET", "_health", "", nil, &health)
	if health["version"] == "" {
		t.Fatal("no health version")
	}
}

// With did:web, the DID is did:web:<handle>, this host serves its
// document, and a resolver finds the signing key there: every commit
// verifies.
func TestDIDWeb(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.DIDMethod = DIDMethodWeb; c.SigningAlg = "ES256" })
	chk := newChecker(t, e.webResolver(t, "web.test"))
	e.consume(chk, 0)
	did, auth := e.account("web.test")
	if did != "did:web:web.test" {
		t.Fatalf("DID %s", did)
	}
	e.mustXRPC("POST", "com.atproto.repo.createRecord", auth, map[string]any{"repo": did, "collection": "app.bsky.feed.post", "record": post("w")}, nil)
	waitFor(t, "events", func() bool { chk.mu.Lock(); defer chk.mu.Unlock(); return chk.lastSeq == e.pds.events.Head() })
	chk.mu.Lock()
	defer chk.mu.Unlock()
	if len(chk.failures) > 0 || len(chk.commits) != 2 {
		t.Fatalf("checker: %v (%d commits)", chk.failures, len(chk.commits))
	}
}
