package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

func TestFeedgenUsage(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	for _, args := range [][]string{
		{"feedgen"},
		{"feedgen", "--relay", "ws://127.0.0.1:1"},
		{"feedgen", "--relay", "ws://127.0.0.1:1", "--publisher", "did:web:p.test", "--feeds", "x.json"},
		{"feedgen", "extra"},
		{"feedgen", "--relay", "ws://127.0.0.1:1", "--publisher", "did:web:p.test", "--auth", "maybe"},
	} {
		if _, _, err := runCmd(t, none, args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want usage error", args, err)
		}
	}
}

func TestFeedgenExplain(t *testing.T) {
	t.Parallel()
	tp := newTestPDS(t)
	did := tp.account(t, "ex.test", "pw")
	res, err := tp.pds.ApplyWrites(t.Context(), did, []pds.Write{{Action: repo.Create, Collection: "app.bsky.feed.post",
		Value: map[string]any{"text": "I love golang", "langs": []any{"en"}, "createdAt": "2026-01-01T00:00:00Z"}}}, cid.CID{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "feeds.json")
	content := "{\"feeds\": [\n{\"name\": \"go\", \"rule\": {\"all\": [\n{\"keyword\": {\"words\": [\"golang\"]}},\n{\"lang\": \"fr\"}]},\n\"minLikes\": 2, \"popularity\": {\"gravity\": 1.5}}]}"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, func(string) string { return "" }, "feedgen", "explain", "--pds", tp.url, file, res.Results[0].URI)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"feed go: DROPPED", "line 2    false all", "line 3      true  keyword", "line 4      false lang",
		"line 5    when served: minLikes 2", "line 5    when served: popularity: ranked by (likes + 1×reposts) / (hours + 2)^1.5"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
