package main

import (
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

	"github.com/conflux-atproto/conflux/feedgen/feedfile"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// runFeedgenExplain prints, for every feed of a feed file, which rules kept
// or dropped one post.
func runFeedgenExplain(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("feedgen explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pdsURL := fs.String("pds", "", "fetch the post from this PDS instead of resolving the author's DID")
	plcURL := fs.String("plc-url", identity.DefaultPLCURL, "PLC directory for did:plc authors")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: usage: conflux feedgen explain [--pds URL] FEEDFILE at://did/app.bsky.feed.post/rkey", errUsage)
	}
	feeds, err := feedfile.Load(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	u, err := syntax.ParseATURI(fs.Arg(1))
	if err != nil || u.Collection() != lexicon.NSIDFeedPost || u.RecordKey() == "" {
		return fmt.Errorf("%w: %q is not a post AT-URI", errUsage, fs.Arg(1))
	}
	did := u.Authority().String()
	if *pdsURL == "" {
		res, err := identity.NewResolver(identity.Config{PLCURL: *plcURL})
		if err != nil {
			return err
		}
		id, err := res.Resolve(ctx, did)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", did, err)
		}
		if *pdsURL, err = id.PDSEndpoint(); err != nil {
			return fmt.Errorf("resolve %s: %w", did, err)
		}
	}
	rec, cidStr, err := fetchPost(ctx, *pdsURL, did, string(u.RecordKey()))
	if err != nil {
		return err
	}
	p := plugin.NewPost(u.String(), cidStr, did, string(u.RecordKey()), rec, time.Now())
	for _, f := range feeds {
		steps := f.Explain(p)
		verdict := "DROPPED"
		if steps[0].Result {
			verdict = "KEPT"
		}
		fmt.Fprintf(stdout, "feed %s: %s\n", f.Name(), verdict)
		for _, s := range steps {
			fmt.Fprintf(stdout, "  line %-4d %s%-5v %s\n", s.Line, strings.Repeat("  ", s.Depth), s.Result, s.Rule)
		}
		// Serve-time fields depend on likes and age, which a single
		// fetched post does not have: they are stated, not evaluated.
		for _, st := range f.Settings() {
			fmt.Fprintf(stdout, "  line %-4d when served: %s\n", st.Line, st.Text)
		}
	}
	return nil
}

func fetchPost(ctx context.Context, pds, did, rkey string) (*lexicon.FeedPost, string, error) {
	q := url.Values{"repo": {did}, "collection": {lexicon.NSIDFeedPost}, "rkey": {rkey}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(pds, "/")+"/xrpc/com.atproto.repo.getRecord?"+q.Encode(), nil)
	if err != nil {
		return nil, "", err
	}
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("get post: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", fmt.Errorf("get post: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("get post: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var out struct {
		CID   string           `json:"cid"`
		Value lexicon.FeedPost `json:"value"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, "", fmt.Errorf("get post: %w", errors.Join(errors.New("malformed record"), err))
	}
	return &out.Value, out.CID, nil
}
