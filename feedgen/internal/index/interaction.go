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
	n, err := Likes(b, feed, uri)
	if err != nil {
		return err
	}
	n = max(n+delta, 0)
	k := likesKey(feed, uri)
	if n == 0 {
		err = b.Delete(k, nil)
	} else {
		err = b.Set(k, binary.BigEndian.AppendUint64(nil, uint64(n)), nil)
	}
	if err != nil {
		return fmt.Errorf("index likes %s: %w", uri, err)
	}
	return nil
}

// Likes returns the like count of uri in feed.
func Likes(r Reader, feed, uri string) (int64, error) {
	v, closer, err := r.Get(likesKey(feed, uri))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("index likes %s: %w", uri, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("index likes %s: value of %d bytes: %w", uri, len(v), errBadKey)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}
