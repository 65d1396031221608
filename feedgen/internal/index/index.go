// Package index is the feed generator's per-feed index in Pebble: which
// posts each feed holds, in indexed-time order, plus the reverse maps that
// let a post delete or an account purge find their entries (layout in
// keys.go). Every operation names one feed and touches only its keys.
//
// Writes go into a caller's batch (the durable consumer's, so index changes
// and the cursor commit together); every write is idempotent, so replaying
// an event after a crash changes nothing. Every write that changes what a
// feed serves also changes the feed's version key, which lets a server
// cache the feed in memory and revalidate it with one point read.
package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Reader is what lookups need: a DB, a snapshot or an indexed batch.
type Reader interface {
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
	Get(key []byte) ([]byte, io.Closer, error)
}

// Batch is an indexed batch: writes, and reads that see them.
type Batch interface {
	Reader
	Set(key, value []byte, o *pebble.WriteOptions) error
	Delete(key []byte, o *pebble.WriteOptions) error
}

// Item is one entry of a feed.
type Item struct {
	URI       string
	IndexedAt int64   // µs since the Unix epoch
	Score     float64 // the feed's Match score (0 for newest-first feeds)
}

// Add puts uri by author into feed at indexed time ts (µs) with score 0.
func Add(b Batch, feed, author, uri string, ts int64) error {
	return AddScored(b, feed, author, uri, ts, 0)
}

// AddScored puts uri by author into feed at indexed time ts (µs) with the
// feed's score. An entry of the same uri is replaced. If the author is
// hidden, only the membership and author keys are written (Unhide restores
// the item).
func AddScored(b Batch, feed, author, uri string, ts int64, score float64) error {
	if err := Delete(b, feed, author, uri); err != nil {
		return err
	}
	hidden, err := Hidden(b, feed, author)
	if err != nil {
		return err
	}
	member := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(ts))
	if score != 0 {
		member = binary.BigEndian.AppendUint64(member, math.Float64bits(score))
	}
	err = errors.Join(
		b.Set(memberKey(feed, uri), member, nil),
		b.Set(authorKey(feed, author, uri), nil, nil))
	if err == nil && !hidden {
		err = errors.Join(b.Set(itemKey(feed, ts, uri), member[8:], nil), bump(b, feed))
	}
	if err != nil {
		return fmt.Errorf("index add %s to %s: %w", uri, feed, err)
	}
	return nil
}

// member reads the membership of uri: its indexed time and score.
func member(r Reader, feed, uri string) (ts int64, score float64, found bool, err error) {
	v, closer, err := r.Get(memberKey(feed, uri))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	defer closer.Close()
	if len(v) != 8 && len(v) != 16 {
		return 0, 0, false, fmt.Errorf("membership value of %d bytes: %w", len(v), errBadKey)
	}
	ts = int64(binary.BigEndian.Uint64(v))
	if len(v) == 16 {
		score = math.Float64frombits(binary.BigEndian.Uint64(v[8:]))
	}
	return ts, score, true, nil
}

// Delete removes uri by author from feed; absent is fine.
func Delete(b Batch, feed, author, uri string) error {
	ts, _, found, err := member(b, feed, uri)
	if err != nil {
		return fmt.Errorf("index delete %s from %s: %w", uri, feed, err)
	}
	if !found {
		// Not in the feed (or expired): only an author key may be left.
		if err := b.Delete(authorKey(feed, author, uri), nil); err != nil {
			return fmt.Errorf("index delete %s from %s: %w", uri, feed, err)
		}
		return nil
	}
	err = errors.Join(b.Delete(itemKey(feed, ts, uri), nil), b.Delete(memberKey(feed, uri), nil),
		b.Delete(authorKey(feed, author, uri), nil), bump(b, feed))
	if err != nil {
		return fmt.Errorf("index delete %s from %s: %w", uri, feed, err)
	}
	return nil
}

// authorURIs lists the URIs of did's posts in feed.
func authorURIs(r Reader, feed, did string) ([]string, error) {
	p := authorPrefix(feed, did)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	var uris []string
	for ok := it.First(); ok; ok = it.Next() {
		uris = append(uris, string(it.Key()[len(p):]))
	}
	return uris, it.Close()
}

// PurgeAuthor removes every post of did from feed, and its hidden mark.
func PurgeAuthor(b Batch, feed, did string) error {
	uris, err := authorURIs(b, feed, did)
	if err != nil {
		return fmt.Errorf("index purge %s from %s: %w", did, feed, err)
	}
	for _, u := range uris {
		if err := Delete(b, feed, did, u); err != nil {
			return err
		}
	}
	if err := b.Delete(feedKey(prefixHidden, feed, did), nil); err != nil {
		return fmt.Errorf("index purge %s from %s: %w", did, feed, err)
	}
	return nil
}

// Hidden reports whether did's posts are hidden from feed.
func Hidden(r Reader, feed, did string) (bool, error) {
	_, closer, err := r.Get(feedKey(prefixHidden, feed, did))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("index hidden %s in %s: %w", did, feed, err)
	}
	_ = closer.Close()
	return true, nil
}

// Hide takes every post of did out of feed's served items, keeping what
// Unhide needs to bring them back; posts did makes meanwhile are kept the
// same way. status (the account status) is stored for inspection.
func Hide(b Batch, feed, did, status string) error {
	if err := b.Set(feedKey(prefixHidden, feed, did), []byte(status), nil); err != nil {
		return fmt.Errorf("index hide %s in %s: %w", did, feed, err)
	}
	return setAuthorItems(b, feed, did, false)
}

// Unhide restores the posts of a hidden did (a no-op for others).
func Unhide(b Batch, feed, did string) error {
	hidden, err := Hidden(b, feed, did)
	if err != nil || !hidden {
		return err
	}
	if err := b.Delete(feedKey(prefixHidden, feed, did), nil); err != nil {
		return fmt.Errorf("index unhide %s in %s: %w", did, feed, err)
	}
	return setAuthorItems(b, feed, did, true)
}

// setAuthorItems writes (on) or deletes the item keys of did's posts.
func setAuthorItems(b Batch, feed, did string, on bool) error {
	uris, err := authorURIs(b, feed, did)
	if err != nil {
		return fmt.Errorf("index hide %s in %s: %w", did, feed, err)
	}
	for _, u := range uris {
		ts, score, found, err := member(b, feed, u)
		if err != nil {
			return fmt.Errorf("index hide %s in %s: %w", did, feed, err)
		}
		if !found {
			continue // expired: only the author key was left
		}
		if on {
			var v []byte
			if score != 0 {
				v = binary.BigEndian.AppendUint64(nil, math.Float64bits(score))
			}
			err = b.Set(itemKey(feed, ts, u), v, nil)
		} else {
			err = b.Delete(itemKey(feed, ts, u), nil)
		}
		if err != nil {
			return fmt.Errorf("index hide %s in %s: %w", did, feed, err)
		}
	}
	if err := bump(b, feed); err != nil {
		return fmt.Errorf("index hide %s in %s: %w", did, feed, err)
	}
	return nil
}

// Expire removes the items of feed indexed before cutoff (µs), and their
// like and repost counters, and returns how many. Their author keys stay (the item key does not name the
// author); a later delete or purge of the post removes them. Posts of a
// hidden author have no item key and so wait for Unhide to expire.
func Expire(b Batch, feed string, cutoff int64) (int, error) {
	p := itemPrefix(feed)
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: itemKey(feed, cutoff, "")})
	if err != nil {
		return 0, fmt.Errorf("index expire %s: %w", feed, err)
	}
	var keys [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("index expire %s: %w", feed, err)
	}
	for _, k := range keys {
		_, uri, err := splitItem(feed, k)
		if err != nil {
			return 0, fmt.Errorf("index expire %s: %w", feed, err)
		}
		err = errors.Join(b.Delete(k, nil), b.Delete(memberKey(feed, uri), nil),
			b.Delete(likesKey(feed, uri), nil), b.Delete(feedKey(prefixReposts, feed, uri), nil))
		if err != nil {
			return 0, fmt.Errorf("index expire %s: %w", feed, err)
		}
	}
	if len(keys) > 0 {
		if err := bump(b, feed); err != nil {
			return 0, fmt.Errorf("index expire %s: %w", feed, err)
		}
	}
	return len(keys), nil
}

// Page returns up to limit items of feed, newest first (ties by URI,
// descending), strictly after the item `after` (nil: from the newest). more
// reports whether items remain beyond the page.
func Page(r Reader, feed string, after *Item, limit int) (items []Item, more bool, err error) {
	return PageFiltered(r, feed, after, limit, nil)
}

// PageFiltered is Page keeping only items accept returns true for; the
// others are passed over for good (a page's cursor is its last kept item,
// and they sort before it). accept is called in page order. A negative
// limit means no limit.
func PageFiltered(r Reader, feed string, after *Item, limit int, accept func(Item) bool) (items []Item, more bool, err error) {
	p := itemPrefix(feed)
	upper := prefixEnd(p)
	if after != nil {
		upper = itemKey(feed, after.IndexedAt, after.URI) // exclusive: strictly after
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: upper})
	if err != nil {
		return nil, false, fmt.Errorf("index page %s: %w", feed, err)
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		if len(items) == limit {
			return items, true, nil
		}
		ts, uri, err := splitItem(feed, it.Key())
		if err != nil {
			return nil, false, fmt.Errorf("index page %s: %w", feed, err)
		}
		item := Item{URI: uri, IndexedAt: ts}
		if v := it.Value(); len(v) == 8 {
			item.Score = math.Float64frombits(binary.BigEndian.Uint64(v))
		}
		if accept == nil || accept(item) {
			items = append(items, item)
		}
	}
	return items, false, it.Error()
}

// Version returns feed's version (0 if the feed never changed).
func Version(r Reader, key []byte) (uint64, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("index version: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("index version: value of %d bytes: %w", len(v), errBadKey)
	}
	return binary.BigEndian.Uint64(v), nil
}

// Touch changes feed's version, for a change the index cannot see the
// effect of (a like count a feed filters on).
func Touch(b Batch, feed string) error {
	if err := bump(b, feed); err != nil {
		return fmt.Errorf("index touch %s: %w", feed, err)
	}
	return nil
}

// bump changes feed's version. A random value needs no read, and two
// batches collide with probability 2^-64; zero is reserved for "never".
func bump(b Batch, feed string) error {
	return b.Set(VersionKey(feed), binary.BigEndian.AppendUint64(nil, rand.Uint64()|1), nil)
}

// Micros converts t to index time.
func Micros(t time.Time) int64 { return t.UnixMicro() }
