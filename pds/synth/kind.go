package synth

import (
	"fmt"
	"time"
)

// Kind is the kind of one action (one commit). It doubles as the kind label
// of conflux_synth_writes_total.
type Kind uint8

// The actions the driver takes.
const (
	KindPost         Kind = iota // a new top-level post
	KindReply                    // a post replying to an existing post
	KindQuote                    // a post quoting an existing post
	KindLike                     // a like of an existing post
	KindRepost                   // a repost of an existing post
	KindFollow                   // a follow of another synthetic user
	KindProfile                  // a profile create or update
	KindDeletePost               // the author deletes one of their posts
	KindDeleteLike               // an unlike
	KindDeleteRepost             // an un-repost
	KindDeleteFollow             // an unfollow
	numKinds
)

var kindNames = [numKinds]string{
	KindPost:         "post",
	KindReply:        "reply",
	KindQuote:        "quote",
	KindLike:         "like",
	KindRepost:       "repost",
	KindFollow:       "follow",
	KindProfile:      "profile",
	KindDeletePost:   "delete_post",
	KindDeleteLike:   "delete_like",
	KindDeleteRepost: "delete_repost",
	KindDeleteFollow: "delete_follow",
}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Mix weighs the actions the driver picks. Weights are relative; an action
// that is impossible at the moment (a like before any post exists, a delete
// of nothing) becomes a post. Delete picks among the user's own posts,
// likes, reposts and follows in proportion to how many of each exist.
type Mix struct {
	Post, Reply, Quote, Like, Repost, Follow, Profile, Delete int
}

// DefaultMix is roughly the network's shape: mostly likes, then posts and
// replies, some reposts and follows, a few profile edits and deletes.
func DefaultMix() Mix {
	return Mix{Post: 20, Reply: 12, Quote: 3, Like: 40, Repost: 8, Follow: 8, Profile: 2, Delete: 7}
}

func (m Mix) weights() [8]int {
	return [8]int{m.Post, m.Reply, m.Quote, m.Like, m.Repost, m.Follow, m.Profile, m.Delete}
}

// mixKinds is the Kind each weight picks (Delete is refined later).
var mixKinds = [8]Kind{KindPost, KindReply, KindQuote, KindLike, KindRepost, KindFollow, KindProfile, KindDeletePost}

func (m Mix) validate() error {
	total := 0
	for _, w := range m.weights() {
		if w < 0 {
			return fmt.Errorf("%w: negative weight in mix %+v", ErrConfig, m)
		}
		total += w
	}
	if total == 0 {
		return fmt.Errorf("%w: mix has no weight", ErrConfig)
	}
	return nil
}

// Stats is a snapshot of a driver's progress.
type Stats struct {
	Users    int
	Writes   int64            // actions applied (each is one commit)
	ByKind   map[string]int64 // applied actions by Kind name
	Blobs    int64            // blobs uploaded
	Errors   int64            // actions that failed, NotFound and Mismatch included
	NotFound int64            // deletes or updates of records the host did not have (races with the model)
	Mismatch int64            // the host reported a different URI or CID than the driver computed
	Elapsed  time.Duration    // since the first action was planned
	Rate     float64          // achieved Writes per second over Elapsed
}
