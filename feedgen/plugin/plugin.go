package plugin

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"time"
)

// Feed is a custom feed. Name is the record key of its
// app.bsky.feed.generator record (the last segment of the feed's AT-URI).
type Feed interface {
	Name() string
	Match(p *Post) Decision
}

// Decision is a feed's verdict on one post. Score is used only by feeds
// ranked by RankScore; it must be finite.
type Decision struct {
	Keep  bool
	Score float64
}

// Keep and Drop are the common decisions of newest-first feeds.
var (
	Keep = Decision{Keep: true}
	Drop = Decision{}
)

// Ranking says how a feed's items are ordered when served.
type Ranking int

const (
	// RankNewest orders by indexed time, newest first (ties broken by URI).
	RankNewest Ranking = iota
	// RankScore orders by a score with time decay (see Ranker and Gravity).
	RankScore
)

// Ranker is implemented by feeds that are not newest-first.
type Ranker interface {
	Ranking() Ranking
}

// Interaction is a like or repost of a post, or its removal.
type Interaction struct {
	Kind    InteractionKind
	Subject string // AT-URI of the liked or reposted post
	Actor   string // DID of who liked or reposted
	Delta   int    // +1 on create, -1 on delete
}

// InteractionKind distinguishes likes from reposts.
type InteractionKind int

const (
	Like InteractionKind = iota + 1
	Repost
)

// Interactor is implemented by feeds that count likes and reposts (for
// thresholds or ranking). Like deletes carry only the like's own URI; the
// generator resolves the subject before calling.
type Interactor interface {
	OnInteraction(in Interaction)
}

// Deleter is implemented by feeds that keep their own state per post and
// must forget a deleted one. The generator removes the post from the index
// itself; this hook is only for the feed's private state.
type Deleter interface {
	OnDelete(uri string)
}

// Cleaner is implemented by feeds with private state to prune; the
// generator calls Cleanup periodically with the current time.
type Cleaner interface {
	Cleanup(now time.Time)
}

// Retainer is implemented by feeds with their own retention; others get
// the generator's default.
type Retainer interface {
	Retention() time.Duration
}

// AuthorCapper is implemented by feeds that show at most AuthorCap posts
// of one author per page; the others of that page's span are skipped.
type AuthorCapper interface {
	AuthorCap() int
}

// MinLiker is implemented by feeds that show only posts with at least
// MinLikes likes (counted by the generator from the stream, from the time
// the feed exists). The filter applies when serving, so a post appears once
// it has enough likes.
type MinLiker interface {
	MinLikes() int
}

// Gravity is the usual "hacker news" decay: points / (hours + 2)^1.8, where
// hours is the post's age. Negative ages (clock skew, back-dated imports)
// count as zero.
func Gravity(points float64, age time.Duration) float64 {
	h := max(age.Hours(), 0)
	return points / math.Pow(h+2, 1.8)
}

// ErrDuplicate is returned by Register for a second feed with the same name.
var ErrDuplicate = errors.New("duplicate feed name")

// ErrBadName is returned by Register for a name that is not a valid record
// key of at most 15 characters (the limit feed directories apply).
var ErrBadName = errors.New("invalid feed name")

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9._:~-]{1,15}$`)

// Registry holds the feeds one generator serves. The zero value is empty
// and ready; it is not safe for concurrent Register calls (register
// everything before starting the generator).
type Registry struct {
	feeds map[string]Feed
}

// Register adds f.
func (r *Registry) Register(f Feed) error {
	if f == nil {
		return fmt.Errorf("register feed: %w: nil feed", ErrBadName)
	}
	name := f.Name()
	if !nameRE.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("register feed %q: %w", name, ErrBadName)
	}
	if _, ok := r.feeds[name]; ok {
		return fmt.Errorf("register feed %q: %w", name, ErrDuplicate)
	}
	if r.feeds == nil {
		r.feeds = make(map[string]Feed)
	}
	r.feeds[name] = f
	return nil
}

// Get returns the feed named name.
func (r *Registry) Get(name string) (Feed, bool) {
	f, ok := r.feeds[name]
	return f, ok
}

// Feeds returns the registered feeds sorted by name.
func (r *Registry) Feeds() []Feed {
	out := make([]Feed, 0, len(r.feeds))
	for _, f := range r.feeds {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// RankingOf returns f's ranking mode.
func RankingOf(f Feed) Ranking {
	if r, ok := f.(Ranker); ok {
		return r.Ranking()
	}
	return RankNewest
}
