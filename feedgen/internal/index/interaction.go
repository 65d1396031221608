package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// PutInteraction records that the like or repost uri (kind is the caller's
// enum) points at subject, for feed.
func PutInteraction(b Batch, feed, uri string, kind byte, subject string) error {
	v := append([]byte{kind}, subject...)
	if err := b.Set(interactionKey(feed, uri), v, nil); err != nil {
		return fmt.Errorf("index interaction %s: %w", uri, err)
	}
	return nil
}

// TakeInteraction removes and returns what PutInteraction stored for uri;
// found is false if nothing was (a like from before the feed existed, or a
// replayed delete).
func TakeInteraction(b Batch, feed, uri string) (kind byte, subject string, found bool, err error) {
	k := interactionKey(feed, uri)
	v, closer, err := b.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("index interaction %s: %w", uri, err)
	}
	if len(v) == 0 {
		_ = closer.Close()
		return 0, "", false, fmt.Errorf("index interaction %s: empty value: %w", uri, errBadKey)
	}
	kind, subject = v[0], string(v[1:])
	_ = closer.Close()
	if err := b.Delete(k, nil); err != nil {
		return 0, "", false, fmt.Errorf("index interaction %s: %w", uri, err)
	}
	return kind, subject, true, nil
}

// AddLikes adds delta to the like count of uri in feed (never below 0).
func AddLikes(b Batch, feed, uri string, delta int64) error {
	return addCount(b, likesKey(feed, uri), uri, delta)
}

// AddReposts adds delta to the repost count of uri in feed (never below 0).
func AddReposts(b Batch, feed, uri string, delta int64) error {
	return addCount(b, feedKey(prefixReposts, feed, uri), uri, delta)
}

// addCount does not change the feed's version: whether a count changes
// what the feed serves is the caller's knowledge (see Touch).
func addCount(b Batch, k []byte, uri string, delta int64) error {
	n, err := count(b, k)
	if err != nil {
		return fmt.Errorf("index count %s: %w", uri, err)
	}
	n = max(n+delta, 0)
	if n == 0 {
		err = b.Delete(k, nil)
	} else {
		err = b.Set(k, binary.BigEndian.AppendUint64(nil, uint64(n)), nil)
	}
	if err != nil {
		return fmt.Errorf("index count %s: %w", uri, err)
	}
	return nil
}

// Likes returns the like count of uri in feed.
func Likes(r Reader, feed, uri string) (int64, error) {
	n, err := count(r, likesKey(feed, uri))
	if err != nil {
		return 0, fmt.Errorf("index likes %s: %w", uri, err)
	}
	return n, nil
}

func count(r Reader, k []byte) (int64, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("count value of %d bytes: %w", len(v), errBadKey)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// Counts are the interactions counted for one post.
type Counts struct{ Likes, Reposts int64 }

// AllCounts returns the like and repost counts of every post of feed that
// has any, in one pass over each keyspace.
func AllCounts(r Reader, feed string) (map[string]Counts, error) {
	out := map[string]Counts{}
	for _, prefix := range []byte{prefixLikes, prefixReposts} {
		p := feedKey(prefix, feed, "")
		it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return nil, fmt.Errorf("index counts %s: %w", feed, err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			v := it.Value()
			if len(v) != 8 {
				_ = it.Close()
				return nil, fmt.Errorf("index counts %s: value of %d bytes: %w", feed, len(v), errBadKey)
			}
			uri := string(it.Key()[len(p):])
			c := out[uri]
			if prefix == prefixLikes {
				c.Likes = int64(binary.BigEndian.Uint64(v))
			} else {
				c.Reposts = int64(binary.BigEndian.Uint64(v))
			}
			out[uri] = c
		}
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("index counts %s: %w", feed, err)
		}
	}
	return out, nil
}
