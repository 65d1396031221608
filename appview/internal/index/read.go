package index

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// GetRecord returns the record stored at uri.
func GetRecord(r pebble.Reader, uri string) (*Record, bool, error) {
	return getRecord(r, uri)
}

// Counts are the aggregate counts of one subject (a post URI or an actor
// DID); the kinds that do not apply to it are 0.
type Counts struct {
	Likes, Reposts, Replies, Quotes int64
	Followers, Follows, Posts       int64
}

// Count returns an aggregate count of subject (a post URI or an actor DID).
func Count(r pebble.Reader, subject string, kind CountKind) (int64, error) {
	v, _, err := get(r, countKey(subject, kind))
	return decodeInt(v), err
}

// GetCounts returns all counts of subject with one scan: its count keys
// are adjacent (the kind is the last byte).
func GetCounts(r pebble.Reader, subject string) (Counts, error) {
	var c Counts
	prefix := append(key(pCount, subject), 0)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return c, fmt.Errorf("counts of %s: %w", subject, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		n := decodeInt(it.Value())
		switch CountKind(k[len(k)-1]) {
		case CountLikes:
			c.Likes = n
		case CountReposts:
			c.Reposts = n
		case CountReplies:
			c.Replies = n
		case CountQuotes:
			c.Quotes = n
		case CountFollowers:
			c.Followers = n
		case CountFollows:
			c.Follows = n
		case CountPosts:
			c.Posts = n
		}
	}
	return c, it.Error()
}

// EdgeKind selects one of the per-subject lists.
type EdgeKind byte

const (
	EdgeReplies   = EdgeKind(pReply)
	EdgeQuotes    = EdgeKind(pQuote)
	EdgeLikes     = EdgeKind(pLike)
	EdgeReposts   = EdgeKind(pRepost)
	EdgeFollowers = EdgeKind(pFollower)
)

// Edges lists the record URIs linked to subject (likes of a post, followers
// of an actor, ...), in URI order, after the cursor "after" (a URI returned
// before; "" starts at the beginning). It returns at most limit URIs and the
// cursor for the next page ("" at the end).
func Edges(r pebble.Reader, kind EdgeKind, subject, after string, limit int) ([]string, string, error) {
	prefix := append(key(byte(kind), subject), 0)
	lower := prefix
	if after != "" {
		lower = append(append(append([]byte(nil), prefix...), after...), 0)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, "", fmt.Errorf("list edges: %w", err)
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok; ok = it.Next() {
		if len(out) == limit {
			return out, out[len(out)-1], it.Error()
		}
		out = append(out, string(it.Key()[len(prefix):]))
	}
	return out, "", it.Error()
}

// Follows lists the DIDs did follows, in follow-record-key order, with the
// same cursor convention as Edges (the cursor is a record key).
func Follows(r pebble.Reader, did, after string, limit int) (subjects []string, rkeys []string, next string, err error) {
	prefix := append(key(pFollowing, did), 0)
	lower := prefix
	if after != "" {
		lower = append(append(append([]byte(nil), prefix...), after...), 0)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, nil, "", fmt.Errorf("list follows: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if len(subjects) == limit {
			return subjects, rkeys, rkeys[len(rkeys)-1], it.Error()
		}
		rkeys = append(rkeys, string(it.Key()[len(prefix):]))
		subjects = append(subjects, string(it.Value()))
	}
	return subjects, rkeys, "", it.Error()
}

// FeedItem is one entry of an author feed: a post or a repost by the author.
type FeedItem struct {
	URI        string
	Collection string
	RKey       string
}

// AuthorFeed calls fn for the author's feed items newest first (record keys
// are TIDs), starting strictly before the cursor rkey "before" ("" = the
// newest), until fn returns false.
func AuthorFeed(r pebble.Reader, did, before string, fn func(FeedItem) bool) error {
	prefix := append(key(pFeed, did), 0)
	upper := prefixEnd(prefix)
	if before != "" {
		upper = append(append([]byte(nil), prefix...), before...)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("author feed: %w", err)
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		rest := it.Key()[len(prefix):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return fmt.Errorf("%w: feed key", ErrCorrupt)
		}
		rkey, coll := string(rest[:i]), string(rest[i+1:])
		if !fn(FeedItem{URI: "at://" + did + "/" + coll + "/" + rkey, Collection: coll, RKey: rkey}) {
			break
		}
	}
	return it.Error()
}
