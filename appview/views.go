package appview

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// invalidHandle is what atproto shows for an account whose handle is not
// known (or does not verify).
const invalidHandle = "handle.invalid"

// epoch stands in for indexedAt of records whose createdAt is unusable: the
// index keeps no wall-clock time, so views are a pure function of the
// records and identical on every replica.
const epoch = "1970-01-01T00:00:00.000Z"

// errNotFound is returned by view builders for a missing or hidden subject.
var errNotFound = errors.New("not found")

type profileBasic struct {
	DID         string  `json:"did"`
	Handle      string  `json:"handle"`
	DisplayName *string `json:"displayName,omitempty"`
	Avatar      *string `json:"avatar,omitempty"`
	CreatedAt   *string `json:"createdAt,omitempty"`
}

type profileView struct {
	profileBasic
	Description *string `json:"description,omitempty"`
	IndexedAt   *string `json:"indexedAt,omitempty"`
}

type profileDetailed struct {
	profileView
	FollowersCount int64 `json:"followersCount"`
	FollowsCount   int64 `json:"followsCount"`
	PostsCount     int64 `json:"postsCount"`
}

type postView struct {
	URI         string          `json:"uri"`
	CID         string          `json:"cid"`
	Author      profileBasic    `json:"author"`
	Record      json.RawMessage `json:"record"`
	ReplyCount  int64           `json:"replyCount"`
	RepostCount int64           `json:"repostCount"`
	LikeCount   int64           `json:"likeCount"`
	QuoteCount  int64           `json:"quoteCount"`
	IndexedAt   string          `json:"indexedAt"`
}

// views builds lexicon views from one consistent reader (a snapshot).
// Built views are memoised per request: a feed page shows the same author
// and the same thread root many times.
type views struct {
	r      pebble.Reader
	basics map[string]profileBasic
	posts  map[string]builtPost
}

// builtPost is a memoised post view (err is errNotFound or nil).
type builtPost struct {
	pv  postView
	rec *index.Record
	err error
}

func newViews(r pebble.Reader) views {
	return views{r: r, basics: map[string]profileBasic{}, posts: map[string]builtPost{}}
}

// actor returns the actor's state, or errNotFound if it is hidden.
func (v views) actor(did string) (index.Actor, error) {
	a, err := index.GetActor(v.r, did)
	if err != nil {
		return a, err
	}
	if a.Hidden() {
		return a, errNotFound
	}
	return a, nil
}

func (v views) basic(did string) (profileBasic, error) {
	if pb, ok := v.basics[did]; ok {
		return pb, nil
	}
	pb, err := v.loadBasic(did)
	if err == nil && v.basics != nil {
		v.basics[did] = pb
	}
	return pb, err
}

func (v views) loadBasic(did string) (profileBasic, error) {
	a, err := v.actor(did)
	if err != nil {
		return profileBasic{}, err
	}
	pb := profileBasic{DID: did, Handle: a.Handle}
	if pb.Handle == "" {
		pb.Handle = invalidHandle
	}
	rec, ok, err := index.GetRecord(v.r, profileURI(did))
	if err != nil || !ok {
		return pb, err
	}
	pb.DisplayName = rec.DisplayName
	if rec.CreatedAt != "" {
		pb.CreatedAt = &rec.CreatedAt
	}
	return pb, nil
}

func (v views) profile(did string) (profileView, error) {
	pb, err := v.basic(did)
	if err != nil {
		return profileView{}, err
	}
	pv := profileView{profileBasic: pb}
	rec, ok, err := index.GetRecord(v.r, profileURI(did))
	if err != nil || !ok {
		return pv, err
	}
	pv.Description = rec.Description
	return pv, nil
}

func (v views) profileDetailed(did string) (profileDetailed, error) {
	pv, err := v.profile(did)
	if err != nil {
		return profileDetailed{}, err
	}
	c, err := index.GetCounts(v.r, did)
	return profileDetailed{profileView: pv, FollowersCount: c.Followers, FollowsCount: c.Follows, PostsCount: c.Posts}, err
}

// post returns the post view of uri and its stored record, or
// errNotFound if the post is not indexed or its author is hidden. The
// record's JSON was built when it was indexed: nothing is decoded here.
func (v views) post(uri string) (postView, *index.Record, error) {
	if b, ok := v.posts[uri]; ok {
		return b.pv, b.rec, b.err
	}
	pv, rec, err := v.loadPost(uri)
	if (err == nil || errors.Is(err, errNotFound)) && v.posts != nil {
		v.posts[uri] = builtPost{pv, rec, err}
	}
	return pv, rec, err
}

func (v views) loadPost(uri string) (postView, *index.Record, error) {
	did, coll, _ := splitAuthor(uri)
	if coll != lexicon.NSIDFeedPost {
		return postView{}, nil, errNotFound
	}
	rec, ok, err := index.GetRecord(v.r, uri)
	if err != nil {
		return postView{}, nil, err
	}
	if !ok {
		return postView{}, nil, errNotFound
	}
	author, err := v.basic(did)
	if err != nil {
		return postView{}, nil, err
	}
	c, err := index.GetCounts(v.r, uri)
	if err != nil {
		return postView{}, nil, err
	}
	return postView{URI: uri, CID: rec.CID.String(), Author: author, Record: rec.JSON, IndexedAt: indexedAt(rec.CreatedAt),
		ReplyCount: c.Replies, RepostCount: c.Reposts, LikeCount: c.Likes, QuoteCount: c.Quotes}, rec, nil
}

func profileURI(did string) string { return "at://" + did + "/" + lexicon.NSIDActorProfile + "/self" }

// indexedAt is the record's createdAt when it is a valid datetime.
func indexedAt(createdAt string) string {
	if _, err := syntax.ParseDatetime(createdAt); err == nil {
		return createdAt
	}
	return epoch
}

// splitAuthor returns the DID, collection and rkey of an at:// URI.
func splitAuthor(uri string) (did, coll, rkey string) {
	rest, ok := strings.CutPrefix(uri, "at://")
	if !ok {
		return "", "", ""
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 {
		return "", "", ""
	}
	return parts[0], parts[1], parts[2]
}
