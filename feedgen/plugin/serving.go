package plugin

import "time"

// Counts are the likes and reposts the generator has counted for a post
// of a feed that needs them (a RankScore feed, an Interactor or a
// MinLiker), from the time the feed exists.
type Counts struct {
	Likes   int64
	Reposts int64
}

// Scorer is implemented by RankScore feeds that compute their own score.
// base is the post's Decision.Score from Match, c its counts and age the
// time since it was indexed. keep false leaves the post out of the
// ranking (a popularity threshold). Score must be cheap and pure: the
// generator calls it for every post of the feed each time it recomputes
// the ranking.
type Scorer interface {
	Score(base float64, c Counts, age time.Duration) (score float64, keep bool)
}

// DefaultScore ranks a RankScore feed without a Scorer: the decision's
// score plus likes plus reposts, with Gravity's decay.
func DefaultScore(base float64, c Counts, age time.Duration) (float64, bool) {
	return Gravity(base+float64(c.Likes)+float64(c.Reposts), age), true
}

// Item is a post of a feed as a personalised filter sees it.
type Item struct {
	URI       string
	Author    string // DID
	IndexedAt time.Time
}

// Personalizer is implemented by feeds whose pages depend on who asks.
// requester is the DID of a verified service-auth token ("" for an
// anonymous request: the generator's auth is off or optional and no token
// was sent). The returned filter (nil: keep everything) is applied to the
// feed's items while one page is assembled, in page order, from one
// goroutine; pages stay tie-safe because the cursor is still the last item
// served. A filter that keeps few items makes a page scan far: keep such
// feeds small (retention) or their state selective.
type Personalizer interface {
	ForRequester(requester string) func(Item) bool
}
