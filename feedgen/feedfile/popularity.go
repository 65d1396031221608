package feedfile

import (
	"fmt"
	"math"
	"time"

	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

// Popularity ranks a feed by interactions with time decay:
//
//	score = (likes + Reposts × reposts) / (hours + OffsetHours)^Gravity
//
// where hours is the post's age; posts scoring below MinScore are not
// served. It is a feed field, not a rule of the tree: likes arrive after
// the post, so it applies when serving, not when a post is matched.
type Popularity struct {
	Gravity     float64 // 0..5, default 1.8
	OffsetHours float64 // > 0, default 2
	Reposts     float64 // weight of a repost against a like, >= 0, default 1
	MinScore    float64 // >= 0, default 0 (every post)
}

// Score is the decayed score of a post with counts c at age.
func (p *Popularity) Score(c plugin.Counts, age time.Duration) float64 {
	h := max(age.Hours(), 0)
	return (float64(c.Likes) + p.Reposts*float64(c.Reposts)) / math.Pow(h+p.OffsetHours, p.Gravity)
}

func (p *Popularity) describe() string {
	s := fmt.Sprintf("popularity: ranked by (likes + %g×reposts) / (hours + %g)^%g", p.Reposts, p.OffsetHours, p.Gravity)
	if p.MinScore > 0 {
		s += fmt.Sprintf(", served while the score is at least %g", p.MinScore)
	}
	return s
}

func parsePopularity(v *value) (*Popularity, error) {
	if v.kind != 'o' {
		return nil, v.errf("popularity wants an object such as {\"gravity\": 1.8}")
	}
	p := &Popularity{Gravity: 1.8, OffsetHours: 2, Reposts: 1}
	for _, k := range v.keys {
		f := v.obj[k]
		if f.kind != 'n' || math.IsNaN(f.num) || math.IsInf(f.num, 0) {
			return nil, f.errf("popularity %s wants a number", k)
		}
		switch k {
		case "gravity":
			if f.num < 0 || f.num > 5 {
				return nil, f.errf("popularity gravity wants a number in 0..5")
			}
			p.Gravity = f.num
		case "offsetHours":
			if f.num <= 0 || f.num > 1000 {
				return nil, f.errf("popularity offsetHours wants a number in (0, 1000]")
			}
			p.OffsetHours = f.num
		case "reposts":
			if f.num < 0 || f.num > 1000 {
				return nil, f.errf("popularity reposts wants a weight in 0..1000")
			}
			p.Reposts = f.num
		case "minScore":
			if f.num < 0 {
				return nil, f.errf("popularity minScore wants a number >= 0")
			}
			p.MinScore = f.num
		default:
			return nil, f.errf("unknown popularity field %q (gravity, offsetHours, reposts, minScore)", k)
		}
	}
	return p, nil
}

// Ranking implements plugin.Ranker: RankScore with popularity.
func (f *Feed) Ranking() plugin.Ranking {
	if f.popularity != nil {
		return plugin.RankScore
	}
	return plugin.RankNewest
}

// Score implements plugin.Scorer for a feed with popularity (the Match
// score of a feed file is always 0).
func (f *Feed) Score(_ float64, c plugin.Counts, age time.Duration) (float64, bool) {
	if f.popularity == nil {
		return plugin.DefaultScore(0, c, age)
	}
	s := f.popularity.Score(c, age)
	return s, s >= f.popularity.MinScore
}

// Popularity returns the feed's popularity ranking, nil for newest first.
func (f *Feed) Popularity() *Popularity { return f.popularity }

// Setting is one feed-level field that applies when the feed is served
// (not when a post is matched), for explanations.
type Setting struct {
	Line int
	Text string
}

// Settings lists the feed's serve-time fields in file order.
func (f *Feed) Settings() []Setting { return f.settings }
