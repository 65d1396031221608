package feedgen

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

// feedState is what the server keeps per feed: its settings, read once
// from the plugin, and its in-memory views. Views are immutable and
// published through atomic pointers, so requests read them without a
// lock; build serializes the rebuilds.
type feedState struct {
	name       string
	ranked     bool
	minLikes   int64
	authorCap  int
	personal   plugin.Personalizer // nil: the same pages for everyone
	scorer     func(base float64, c plugin.Counts, age time.Duration) (float64, bool)
	versionKey []byte

	build sync.Mutex
	head  atomic.Pointer[view]     // newest-first feeds
	ranks atomic.Pointer[rankings] // ranked feeds
}

func newFeedState(f plugin.Feed) *feedState {
	s := &feedState{name: f.Name(), ranked: plugin.RankingOf(f) == plugin.RankScore,
		versionKey: index.VersionKey(f.Name()), scorer: plugin.DefaultScore}
	if m, ok := f.(plugin.MinLiker); ok && m.MinLikes() > 0 {
		s.minLikes = int64(m.MinLikes())
	}
	if c, ok := f.(plugin.AuthorCapper); ok && c.AuthorCap() > 0 {
		s.authorCap = c.AuthorCap()
	}
	if sc, ok := f.(plugin.Scorer); ok {
		s.scorer = sc.Score
	}
	s.personal, _ = f.(plugin.Personalizer)
	return s
}

// view is an immutable list of a feed's items in serving order with their
// JSON pre-encoded: body holds every item's {"post":...} object, comma
// separated, so an unfiltered page is one sub-slice of it.
type view struct {
	items    []viewItem
	body     []byte
	complete bool   // items is the whole feed, not just its head
	version  uint64 // newest-first head: the feed version it was built at
	gen      uint64 // ranking: its id, unique across restarts
	built    time.Time
}

type viewItem struct {
	uri        string
	ts         int64
	score      float64 // the ranking score (ranked feeds)
	start, end int     // body[start:end] is the item's JSON object
}

func newView(items []index.Item, scores []float64, complete bool) *view {
	size := 0
	for _, it := range items {
		size += len(it.URI) + len(`{"post":""},`)
	}
	v := &view{items: make([]viewItem, len(items)), body: make([]byte, 0, size), complete: complete}
	for i, it := range items {
		if i > 0 {
			v.body = append(v.body, ',')
		}
		start := len(v.body)
		v.body = appendItem(v.body, it.URI)
		v.items[i] = viewItem{uri: it.URI, ts: it.IndexedAt, start: start, end: len(v.body)}
		if scores != nil {
			v.items[i].score = scores[i]
		}
	}
	return v
}

// rankings are a ranked feed's current ranking and the recent ones whose
// cursors may still be paging.
type rankings struct {
	cur *view
	old []*view // newest first, all built within RankKeep
}

// headView returns the current head of a newest-first feed, rebuilding
// it if the feed changed since it was built. Every change to a feed
// changes its version in the same batch, so a head whose version equals
// the stored one is exactly the committed feed.
func (g *Generator) headView(s *feedState) (*view, error) {
	ver, err := index.Version(g.cfg.DB, s.versionKey)
	if err != nil {
		return nil, err
	}
	if h := s.head.Load(); h != nil && h.version == ver {
		return h, nil
	}
	s.build.Lock()
	defer s.build.Unlock()
	if h := s.head.Load(); h != nil && h.version == ver {
		return h, nil // another request rebuilt it
	}
	start := time.Now()
	snap := g.cfg.DB.NewSnapshot()
	defer snap.Close()
	if ver, err = index.Version(snap, s.versionKey); err != nil {
		return nil, err
	}
	var accept func(index.Item) bool
	if s.minLikes > 0 {
		counts, err := index.AllCounts(snap, s.name)
		if err != nil {
			return nil, err
		}
		accept = func(it index.Item) bool { return counts[it.URI].Likes >= s.minLikes }
	}
	items, more, err := index.PageFiltered(snap, s.name, nil, g.cfg.HeadItems, accept)
	if err != nil {
		return nil, err
	}
	h := newView(items, nil, !more)
	h.version = ver
	s.head.Store(h)
	g.cfg.Metrics.viewBuilt(s.name, viewHead, time.Since(start))
	return h, nil
}

// rankView returns the current ranking of a ranked feed, recomputing it
// when it is due. A request that finds it due while another recomputes
// serves the previous one rather than wait.
func (g *Generator) rankView(s *feedState) (*rankings, error) {
	now := g.cfg.Now()
	rk := s.ranks.Load()
	if rk != nil && now.Sub(rk.cur.built) < g.cfg.RankInterval {
		return rk, nil
	}
	if rk != nil {
		if !s.build.TryLock() {
			return rk, nil
		}
	} else {
		s.build.Lock()
	}
	defer s.build.Unlock()
	if rk = s.ranks.Load(); rk != nil && now.Sub(rk.cur.built) < g.cfg.RankInterval {
		return rk, nil
	}
	start := time.Now()
	v, err := g.rank(s, now)
	if err != nil {
		return nil, err
	}
	g.cfg.Metrics.viewBuilt(s.name, viewRanking, time.Since(start))
	next := &rankings{cur: v}
	if rk != nil {
		if v.gen <= rk.cur.gen {
			v.gen = rk.cur.gen + 1 // a clock that stood still or stepped back
		}
		for _, o := range append([]*view{rk.cur}, rk.old...) {
			if now.Sub(o.built) < g.cfg.RankKeep {
				next.old = append(next.old, o)
			}
		}
	}
	s.ranks.Store(next)
	return next, nil
}

// rank computes a ranking of the whole feed at now: every item's score
// from its Match score, counts and age, best first, ties broken by newer
// indexed time then URI, cut to RankDepth.
func (g *Generator) rank(s *feedState, now time.Time) (*view, error) {
	snap := g.cfg.DB.NewSnapshot()
	defer snap.Close()
	counts, err := index.AllCounts(snap, s.name)
	if err != nil {
		return nil, err
	}
	all, _, err := index.PageFiltered(snap, s.name, nil, -1, nil)
	if err != nil {
		return nil, err
	}
	type scored struct {
		it    index.Item
		score float64
	}
	list := make([]scored, 0, len(all))
	nowMicros := index.Micros(now)
	for _, it := range all {
		c := counts[it.URI]
		if c.Likes < s.minLikes {
			continue
		}
		age := time.Duration(nowMicros-it.IndexedAt) * time.Microsecond
		sc, keep := s.scorer(it.Score, plugin.Counts{Likes: c.Likes, Reposts: c.Reposts}, age)
		if keep && sc == sc { // NaN never ranks
			list = append(list, scored{it, sc})
		}
	}
	slices.SortFunc(list, func(a, b scored) int {
		return rankCmp(b.score, b.it.IndexedAt, b.it.URI, a.score, a.it.IndexedAt, a.it.URI)
	})
	list = list[:min(len(list), g.cfg.RankDepth)]
	items := make([]index.Item, len(list))
	scores := make([]float64, len(list))
	for i, e := range list {
		items[i], scores[i] = e.it, e.score
	}
	v := newView(items, scores, true)
	v.built, v.gen = now, uint64(now.UnixNano())
	return v, nil
}

// rankCmp orders ranking positions ascending (a ranking is served in
// descending order): by score, then indexed time, then URI.
func rankCmp(sa float64, ta int64, ua string, sb float64, tb int64, ub string) int {
	return cmp.Or(cmp.Compare(sa, sb), cmp.Compare(ta, tb), cmp.Compare(ua, ub))
}
