package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/appview"
	"github.com/conflux-atproto/conflux/feedgen"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
)

// startAppview starts an AppView indexing relayURL from cursor 0, with
// verification unless noVerify, and serves its reads. onCommit (may be
// nil) observes its committed batches.
func (cl *cluster) startAppview(name, relayURL string, noVerify, noSync bool, onCommit func(int, consumer.Event)) (*appview.Server, string, error) {
	// Its own identity cache, as a separate service would have.
	res, err := identity.NewResolver(identity.Config{PLCURL: cl.plcURL})
	if err != nil {
		return nil, "", fmt.Errorf("bench: appview resolver: %w", err)
	}
	ids, err := identity.NewCache(res, identity.CacheConfig{MaxEntries: 1 << 20})
	if err != nil {
		return nil, "", fmt.Errorf("bench: appview resolver: %w", err)
	}
	// Our own store, so that Pebble's lines stay out of the output; closed
	// after the AppView stopped (components stop newest first).
	db, err := pebble.Open(filepath.Join(cl.dir, name), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		return nil, "", fmt.Errorf("bench: appview store: %w", err)
	}
	cl.add(&component{name: name + " store", close: db.Close})
	av, err := appview.New(appview.Config{
		RelayURL: wsURL(relayURL), DB: db, Resolver: ids, NoVerify: noVerify,
		NoSync: noSync, OnCommit: onCommit, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		ProgressInterval: time.Hour, Logger: cl.log.With("service", name),
	})
	if err != nil {
		return nil, "", fmt.Errorf("bench: appview: %w", err)
	}
	u, err := cl.serve(name, av.Handler())
	if err != nil {
		av.Close()
		return nil, "", err
	}
	cl.run(name, av.Run, av.Close)
	return av, u, nil
}

// publisherDID publishes the benchmark's feeds.
const publisherDID = "did:web:localhost"

// feedURI is the AT-URI of the benchmark feed called name.
func feedURI(name string) string { return "at://" + publisherDID + "/app.bsky.feed.generator/" + name }

// newFeedgen opens a feed generator's store in the cluster's directory and
// serves feeds; it starts no consumer.
func (cl *cluster) newFeedgen(feeds []plugin.Feed) (*feedgen.Generator, string, *pebble.DB, error) {
	db, err := pebble.Open(filepath.Join(cl.dir, "feedgen"), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		return nil, "", nil, fmt.Errorf("bench: feedgen store: %w", err)
	}
	// Closed after every consumer stopped: components stop newest first.
	cl.add(&component{name: "feedgen store", close: db.Close})
	var reg plugin.Registry
	for _, f := range feeds {
		if err := reg.Register(f); err != nil {
			return nil, "", nil, fmt.Errorf("bench: feed %s: %w", f.Name(), err)
		}
	}
	gen, err := feedgen.New(feedgen.Config{DB: db, Feeds: &reg, PublisherDID: publisherDID, ServiceDID: publisherDID,
		Hostname: "localhost", Logger: cl.log.With("service", "feedgen")})
	if err != nil {
		return nil, "", nil, fmt.Errorf("bench: feedgen: %w", err)
	}
	u, err := cl.serve("feedgen", gen.Handler())
	if err != nil {
		return nil, "", nil, err
	}
	return gen, u, db, nil
}

// startFeedgen starts a feed generator serving feeds, each indexed by its
// own durable consumer of relayURL (as conflux dev runs them). onCommit
// maps a feed name to an observer of its committed batches.
func (cl *cluster) startFeedgen(relayURL string, feeds []plugin.Feed, noSync bool, onCommit map[string]func(int, consumer.Event)) (*feedgen.Generator, string, error) {
	gen, u, db, err := cl.newFeedgen(feeds)
	if err != nil {
		return nil, "", err
	}
	for _, f := range feeds {
		h, err := gen.FeedHandler(f.Name())
		if err != nil {
			return nil, "", fmt.Errorf("bench: feedgen: %w", err)
		}
		c, err := consumer.New(consumer.Config{
			URL: wsURL(relayURL), Cursor: 0, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			ProgressInterval: time.Hour, Logger: cl.log.With("feed", f.Name()),
			Durable: &consumer.Durable{DB: db, Name: "feedgen/" + f.Name(), Handler: h, NoSync: noSync, OnCommit: onCommit[f.Name()]},
		})
		if err != nil {
			return nil, "", fmt.Errorf("bench: feed %s consumer: %w", f.Name(), err)
		}
		cl.run("feed "+f.Name(), c.Run, nil)
	}
	return gen, u, nil
}

// quietPebble keeps Pebble's informational lines out of the output.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// authorFeed keeps the posts of one author.
type authorFeed struct{ name, did string }

func (f authorFeed) Name() string { return f.name }
func (f authorFeed) Match(p *plugin.Post) plugin.Decision {
	if p.Author == f.did {
		return plugin.Keep
	}
	return plugin.Drop
}

// keepAll keeps every post.
type keepAll struct{ name string }

func (f keepAll) Name() string                       { return f.name }
func (f keepAll) Match(*plugin.Post) plugin.Decision { return plugin.Keep }

// watermark follows a durable consumer's committed cursor through its
// OnCommit hook and says when a seq first became visible. It keeps the
// recent commits, because a waiter may learn its seq after the commit
// that covered it.
type watermark struct {
	mu      sync.Mutex
	commits []commitMark // ascending seq; the last maxMarks
	notify  chan struct{}
}

type commitMark struct {
	seq int64
	at  time.Time
}

const maxMarks = 4096

func newWatermark() *watermark { return &watermark{notify: make(chan struct{}, 1)} }

// observe is the OnCommit hook.
func (w *watermark) observe(_ int, last consumer.Event) {
	now := time.Now()
	w.mu.Lock()
	w.commits = append(w.commits, commitMark{last.Seq, now})
	if len(w.commits) > maxMarks {
		w.commits = append(w.commits[:0], w.commits[len(w.commits)-maxMarks/2:]...)
	}
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// visible returns when seq was first committed, if it was.
func (w *watermark) visible(seq int64) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := sort.Search(len(w.commits), func(i int) bool { return w.commits[i].seq >= seq })
	if i == len(w.commits) {
		return time.Time{}, false
	}
	return w.commits[i].at, true
}

// wait blocks until seq is committed or ctx ends.
func (w *watermark) wait(ctx context.Context, seq int64) (time.Time, error) {
	for {
		if t, ok := w.visible(seq); ok {
			return t, nil
		}
		select {
		case <-w.notify:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// head is the last committed seq (0 before any commit).
func (w *watermark) head() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.commits) == 0 {
		return 0
	}
	return w.commits[len(w.commits)-1].seq
}
