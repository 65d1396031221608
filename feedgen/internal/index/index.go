// Package index is the feed generator's per-feed index in Pebble: which
// posts each feed holds, in indexed-time order, plus the reverse maps that
// let a post delete or an account purge find their entries (layout in
// keys.go). Every operation names one feed and touches only its keys.
//
// Writes go into a caller's batch (the durable consumer's, so index changes
// and the cursor commit together); every write is idempotent, so replaying
// an event after a crash changes nothing.
package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	IndexedAt int64 // µs since the Unix epoch
}

// Add puts uri by author into feed at indexed time ts (µs). An entry of the
// same uri at another time is replaced.
func Add(b Batch, feed, author, uri string, ts int64) error {
	if err := Delete(b, feed, author, uri); err != nil {
		return err
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(ts))
	err := errors.Join(
		b.Set(itemKey(feed, ts, uri), nil, nil),
		b.Set(memberKey(feed, uri), v[:], nil),
		b.Set(authorKey(feed, author, uri), nil, nil))
	if err != nil {
		return fmt.Errorf("index add %s to %s: %w", uri, feed, err)
	}
	return nil
}

// Delete removes uri by author from feed; absent is fine.
func Delete(b Batch, feed, author, uri string) error {
	mk := memberKey(feed, uri)
	v, closer, err := b.Get(mk)
	if errors.Is(err, pebble.ErrNotFound) {
		// Not in the feed (or expired): only an author key may be left.
		if err := b.Delete(authorKey(feed, author, uri), nil); err != nil {
			return fmt.Errorf("index delete %s from %s: %w", uri, feed, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("index delete %s from %s: %w", uri, feed, err)
	}
	if len(v) != 8 {
		_ = closer.Close()
		return fmt.Errorf("index delete %s from %s: membership value of %d bytes: %w", uri, feed, len(v), errBadKey)
	}
	ts := int64(binary.BigEndian.Uint64(v))
	_ = closer.Close()
	err = errors.Join(b.Delete(itemKey(feed, ts, uri), nil), b.Delete(mk, nil), b.Delete(authorKey(feed, author, uri), nil))
	if err != nil {
		return fmt.Errorf("index delete %s from %s: %w", uri, feed, err)
	}
	return nil
}

// PurgeAuthor removes every post of did from feed.
func PurgeAuthor(b Batch, feed, did string) error {
	p := authorPrefix(feed, did)
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return fmt.Errorf("index purge %s from %s: %w", did, feed, err)
	}
	var uris []string
	for ok := it.First(); ok; ok = it.Next() {
		uris = append(uris, string(it.Key()[len(p):]))
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("index purge %s from %s: %w", did, feed, err)
	}
	for _, u := range uris {
		if err := Delete(b, feed, did, u); err != nil {
			return err
		}
	}
	return nil
}

// Expire removes the items of feed indexed before cutoff (µs) and returns
// how many. Their author keys stay (the item key does not name the
// author); a later delete or purge of the post removes them.
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
		if err := errors.Join(b.Delete(k, nil), b.Delete(memberKey(feed, uri), nil)); err != nil {
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
// and they sort before it). accept is called in page order.
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
		if accept == nil || accept(item) {
			items = append(items, item)
		}
	}
	return items, false, it.Error()
}

// Micros converts t to index time.
func Micros(t time.Time) int64 { return t.UnixMicro() }
