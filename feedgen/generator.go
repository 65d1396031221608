package feedgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// DefaultRetention is how long a feed keeps a post unless the feed
// implements plugin.Retainer.
const DefaultRetention = 7 * 24 * time.Hour

// Config configures New.
type Config struct {
	// DB holds the index (and, through the consumer, its cursor). The
	// generator never closes it.
	DB *pebble.DB
	// Feeds are the feeds served; required, at least one.
	Feeds *plugin.Registry
	// PublisherDID is the account whose repository holds the feeds'
	// app.bsky.feed.generator records: feed URIs are
	// at://PublisherDID/app.bsky.feed.generator/<name>.
	PublisherDID string
	// ServiceDID is the generator's own DID (the generator records' did
	// field, and the aud of service-auth tokens), e.g. did:web:feeds.example.
	ServiceDID string
	// Hostname is served in /.well-known/did.json for a did:web ServiceDID.
	Hostname string
	// Retention overrides DefaultRetention.
	Retention time.Duration
	// Auth, if set with Keys, checks service-auth tokens on getFeedSkeleton.
	Auth *AuthConfig
	// HeadItems is how many of each newest-first feed's newest items are
	// kept in memory, pre-encoded, for serving; deeper pages read Pebble.
	// Default DefaultHeadItems.
	HeadItems int
	// RankInterval is how often a RankScore feed's ranking is recomputed
	// (on the first request after it is due); default DefaultRankInterval.
	RankInterval time.Duration
	// RankDepth bounds a ranking: a RankScore feed serves at most its
	// RankDepth best posts. Default DefaultRankDepth.
	RankDepth int
	// RankKeep is how long a ranking stays available to the cursors that
	// were issued from it; default DefaultRankKeep.
	RankKeep time.Duration
	// Now is the clock of rankings (ages and their schedule); time.Now if
	// nil.
	Now func() time.Time
	// Metrics, if non-nil, is updated (see NewMetrics).
	Metrics *Metrics
	// Logger; default discard.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultHeadItems    = 5000
	DefaultRankInterval = time.Minute
	DefaultRankDepth    = 5000
	DefaultRankKeep     = 15 * time.Minute
)

// Generator indexes and serves feeds.
type Generator struct {
	cfg   Config
	feeds []plugin.Feed
	state map[string]*feedState // by name; fixed after New
	log   *slog.Logger
	post  plugin.Post // reused by HandleEvent, which the consumer never calls concurrently
}

// DropReason says why an op was not indexed; it doubles as a metric label.
type DropReason string

// Drop reasons.
const (
	DropBadPath   DropReason = "bad_path"
	DropNoBlock   DropReason = "missing_block"
	DropBadRecord DropReason = "bad_record"
	DropBadTime   DropReason = "bad_time"
	DropBadCAR    DropReason = "bad_car"
)

// New validates cfg; it starts nothing.
func New(cfg Config) (*Generator, error) {
	if cfg.DB == nil || cfg.Feeds == nil {
		return nil, errors.New("feedgen config: DB and Feeds are required")
	}
	feeds := cfg.Feeds.Feeds()
	if len(feeds) == 0 {
		return nil, errors.New("feedgen config: no feeds registered")
	}
	if _, err := syntax.ParseDID(cfg.PublisherDID); err != nil {
		return nil, fmt.Errorf("feedgen config: publisher DID: %w", err)
	}
	if _, err := syntax.ParseDID(cfg.ServiceDID); err != nil {
		return nil, fmt.Errorf("feedgen config: service DID: %w", err)
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&cfg.HeadItems, DefaultHeadItems)
	setDefault(&cfg.RankInterval, DefaultRankInterval)
	setDefault(&cfg.RankDepth, DefaultRankDepth)
	setDefault(&cfg.RankKeep, DefaultRankKeep)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Generator{cfg: cfg, feeds: feeds, state: make(map[string]*feedState, len(feeds)),
		log: cfg.Logger.With("component", "feedgen")}
	for _, f := range feeds {
		g.state[f.Name()] = newFeedState(f)
	}
	return g, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// FeedURI is the AT-URI of the feed called name.
func (g *Generator) FeedURI(name string) string {
	return "at://" + g.cfg.PublisherDID + "/app.bsky.feed.generator/" + name
}

// HandleEvent implements consumer.DurableHandler for all feeds at once
// (one consumer, one cursor).
func (g *Generator) HandleEvent(ctx context.Context, ev consumer.Event, b *pebble.Batch) error {
	return g.handle(ev, b, g.feeds, &g.post)
}

// FeedHandler is a consumer.DurableHandler for the one feed called name.
// Run it behind its own durable consumer (its own cursor) to backfill a new
// feed from the relay's retained history while the other feeds' consumers
// continue live: every index key is scoped to its feed, so neither touches
// the other's state.
func (g *Generator) FeedHandler(name string) (consumer.DurableHandler, error) {
	f, ok := g.cfg.Feeds.Get(name)
	if !ok {
		return nil, fmt.Errorf("feed handler %q: %w", name, ErrUnknownFeed)
	}
	one := []plugin.Feed{f}
	post := new(plugin.Post)
	return consumer.DurableHandlerFunc(func(ctx context.Context, ev consumer.Event, b *pebble.Batch) error {
		return g.handle(ev, b, one, post)
	}), nil
}

// handle indexes one event for feeds, flattening posts into post (reused:
// each handler has its own, so handlers of different feeds run
// concurrently; a feed's Match is only ever called by its one handler).
func (g *Generator) handle(ev consumer.Event, b *pebble.Batch, feeds []plugin.Feed, post *plugin.Post) error {
	switch m := ev.Frame.Msg.(type) {
	case *firehose.Commit:
		return g.handleCommit(m, b, feeds, post)
	case *firehose.Account:
		return handleAccount(m, b, feeds)
	}
	return nil
}

// hidesPosts reports whether an inactive account status takes the
// account's posts out of the feeds until it is active again. A deleted
// account is purged for good instead; desynchronized and throttled are
// states of the hosting, not of the content, and change nothing.
func hidesPosts(status string) bool {
	switch status {
	case "takendown", "suspended", "deactivated":
		return true
	}
	return false
}

func handleAccount(m *firehose.Account, b *pebble.Batch, feeds []plugin.Feed) error {
	for _, f := range feeds {
		var err error
		switch {
		case m.Active:
			err = index.Unhide(b, f.Name(), m.DID)
		case m.Status == "deleted":
			err = index.PurgeAuthor(b, f.Name(), m.DID)
		case hidesPosts(m.Status):
			err = index.Hide(b, f.Name(), m.DID, m.Status)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (g *Generator) handleCommit(m *firehose.Commit, b *pebble.Batch, feeds []plugin.Feed, post *plugin.Post) error {
	var (
		blocks car.Blocks
		parsed bool
		bad    bool
	)
	// The CAR slice is parsed at most once, and only if an op needs it.
	getBlocks := func() (car.Blocks, bool) {
		if !parsed && !bad {
			var err error
			if _, blocks, err = car.ReadBytes(m.Blocks, car.CommitLimits()); err != nil {
				g.drop(DropBadCAR, m, err)
				bad = true
			}
			parsed = true
		}
		return blocks, !bad
	}
	counting := slices.ContainsFunc(feeds, countsInteractions)
	for _, op := range m.Ops {
		coll, rkey, ok := strings.Cut(op.Path, "/")
		if !ok {
			continue
		}
		isInteraction := coll == lexicon.NSIDFeedLike || coll == lexicon.NSIDFeedRepost
		if coll != lexicon.NSIDFeedPost && !(counting && isInteraction) {
			continue
		}
		if _, err := syntax.ParseRecordKey(rkey); err != nil {
			g.drop(DropBadPath, m, err)
			continue
		}
		uri := "at://" + m.Repo + "/" + op.Path
		if isInteraction {
			if err := g.handleInteraction(m, op, coll, uri, getBlocks, b, feeds); err != nil {
				return err
			}
			continue
		}
		if op.Action == "delete" {
			for _, f := range feeds {
				if err := index.Delete(b, f.Name(), m.Repo, uri); err != nil {
					return err
				}
				if d, ok := f.(plugin.Deleter); ok {
					d.OnDelete(uri)
				}
			}
			continue
		}
		bl, ok := getBlocks()
		if !ok {
			return nil
		}
		if err := g.indexPost(m, op.CID, uri, rkey, bl, b, feeds, post); err != nil {
			return err
		}
	}
	return nil
}

func (g *Generator) indexPost(m *firehose.Commit, c cid.CID, uri, rkey string, blocks car.Blocks, b *pebble.Batch, feeds []plugin.Feed, p *plugin.Post) error {
	data, found, err := blocks.GetBlock(c)
	if err != nil || !found {
		g.drop(DropNoBlock, m, err)
		return nil
	}
	rec, err := lexicon.DecodeRecord(lexicon.NSIDFeedPost, data)
	if err != nil {
		g.drop(DropBadRecord, m, err)
		return nil
	}
	fp, ok := rec.(*lexicon.FeedPost)
	if !ok {
		g.drop(DropBadRecord, m, nil)
		return nil
	}
	at, err := time.Parse(time.RFC3339Nano, m.Time)
	if err != nil {
		g.drop(DropBadTime, m, err)
		return nil
	}
	p.URI, p.CID, p.Author, p.RKey, p.IndexedAt = uri, c.String(), m.Repo, rkey, at
	p.Fill(fp)
	ts := index.Micros(at)
	now := time.Now()
	for _, f := range feeds {
		d := f.Match(p)
		var err error
		if d.Keep {
			score := d.Score
			if plugin.RankingOf(f) != plugin.RankScore || math.IsNaN(score) || math.IsInf(score, 0) {
				score = 0
			}
			err = index.AddScored(b, f.Name(), m.Repo, uri, ts, score)
		} else {
			// An update may stop matching: drop an older version.
			err = index.Delete(b, f.Name(), m.Repo, uri)
		}
		if err != nil {
			return err
		}
		g.cfg.Metrics.observePost(f.Name(), d.Keep, at, now)
	}
	return nil
}

func (g *Generator) drop(r DropReason, m *firehose.Commit, err error) {
	g.cfg.Metrics.drop(r)
	g.log.Debug("op dropped", "reason", string(r), "did", m.Repo, "seq", m.Seq, "err", err)
}

// Expire removes, in one batch, every item older than its feed's retention
// at now.
func (g *Generator) Expire(now time.Time) (int, error) {
	b := g.cfg.DB.NewIndexedBatch()
	defer b.Close()
	total := 0
	for _, f := range g.feeds {
		ret := g.cfg.Retention
		if r, ok := f.(plugin.Retainer); ok && r.Retention() > 0 {
			ret = r.Retention()
		}
		n, err := index.Expire(b, f.Name(), index.Micros(now.Add(-ret)))
		if err != nil {
			return 0, err
		}
		total += n
		if c, ok := f.(plugin.Cleaner); ok {
			c.Cleanup(now)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("expire: commit: %w", err)
	}
	return total, nil
}
