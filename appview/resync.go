package appview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// maxRepoBytes bounds a fetched repository CAR.
const maxRepoBytes = 256 << 20

// errRateLimited: the resync budget is spent; the repo stays marked.
var errRateLimited = errors.New("resync rate limited")

// repoFetcher fetches a repository's full CAR (com.atproto.sync.getRepo).
type repoFetcher interface {
	FetchRepo(ctx context.Context, did string) ([]byte, error)
}

// httpFetcher asks the relay (which may redirect to the PDS; the client
// follows redirects) for getRepo.
type httpFetcher struct {
	base   string // http(s)://host
	client *http.Client
}

func newHTTPFetcher(relayURL string) (*httpFetcher, error) {
	u, err := url.Parse(relayURL)
	if err != nil {
		return nil, fmt.Errorf("relay URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https", "":
		u.Scheme = "https"
	}
	if u.Host == "" { // a bare host parses as a path
		u.Host, u.Path = strings.SplitN(u.Path, "/", 2)[0], ""
	}
	return &httpFetcher{base: u.Scheme + "://" + u.Host, client: &http.Client{Timeout: time.Minute}}, nil
}

func (f *httpFetcher) FetchRepo(ctx context.Context, did string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		f.base+"/xrpc/com.atproto.sync.getRepo?did="+url.QueryEscape(did), nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("getRepo %s: %w", did, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("getRepo %s: HTTP %d", did, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRepoBytes+1))
	if err != nil {
		return nil, fmt.Errorf("getRepo %s: %w", did, err)
	}
	if len(b) > maxRepoBytes {
		return nil, fmt.Errorf("getRepo %s: over %d bytes", did, maxRepoBytes)
	}
	return b, nil
}

// limiter allows one resync per interval.
type limiter struct {
	interval time.Duration
	mu       struct {
		sync.Mutex
		next time.Time
	}
}

func (l *limiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Before(l.mu.next) {
		return false
	}
	l.mu.next = now.Add(l.interval)
	return true
}

// resync fetches did's repository, diffs its records against the index and
// applies the difference into b; it returns the repository's commit state.
// The repository is checked like a commit (structure and, when verifying,
// the signature).
func (x *indexer) resync(ctx context.Context, did string, b *pebble.Batch) (index.RepoState, error) {
	if x.fetch == nil || !x.limit.allow() {
		return index.RepoState{}, errRateLimited
	}
	data, err := x.fetch.FetchRepo(ctx, did)
	if err != nil {
		return index.RepoState{}, err
	}
	roots, blocks, err := car.ReadBytes(data, car.Limits{MaxBytes: maxRepoBytes, MaxBlocks: 1 << 22})
	if err != nil || len(roots) == 0 {
		return index.RepoState{}, fmt.Errorf("resync %s: read CAR: %w", did, err)
	}
	commit, err := repo.ParseCommit(blocks[roots[0]])
	if err != nil || commit.DID != did {
		return index.RepoState{}, fmt.Errorf("resync %s: bad commit: %v", did, err)
	}
	if x.verify {
		if err := x.checkSignature(ctx, commit); err != nil {
			return index.RepoState{}, fmt.Errorf("resync %s: %w", did, err)
		}
	}
	all, err := repo.OpsBetween(blocks, cid.CID{}, commit.Data)
	if err != nil {
		return index.RepoState{}, fmt.Errorf("resync %s: walk tree: %w", did, err)
	}
	have, err := index.RecordCIDs(b, did)
	if err != nil {
		return index.RepoState{}, err
	}
	var ops []index.Op
	for _, op := range all {
		if c, ok := have[op.Path]; !ok || c != op.CID {
			ops = append(ops, index.Op{Action: index.Update, Path: op.Path, CID: op.CID, Record: blocks[op.CID]})
		}
		delete(have, op.Path)
	}
	for path := range have {
		ops = append(ops, index.Op{Action: index.Delete, Path: path})
	}
	if err := x.ix.ApplyCommit(b, did, ops); err != nil {
		return index.RepoState{}, err
	}
	x.log.Info("repo resynced", "did", did, "records", len(all), "changed", len(ops))
	return index.RepoState{Rev: commit.Rev, Data: commit.Data}, nil
}
