package index

import (
	"encoding/binary"
	"errors"
)

// Key layout of the feed index. Integers are big-endian so byte order is
// numeric order; names and URIs are followed by 0x00, which neither a feed
// name (a record key) nor an AT-URI may contain, so a prefix scan of one
// name never reaches another that extends it.
//
//	0x01 feed 0x00 ts uri            -> [score]     item of a feed (ts = indexed µs, 8 bytes, sign bit flipped)
//	0x02 feed 0x00 uri               -> ts [score]  membership: finds the item key of uri, for deletes
//	0x03 feed 0x00 author 0x00 uri   -> ""          author's posts in the feed, for account purges
//
// score is the float64 bits of the feed's Match score (8 bytes), present
// only when it is not zero (ranked feeds). An item of a hidden author (see
// prefixHidden) has its membership and author keys but no item key, so
// that serving needs no filter and reactivation can restore it.
//
// Every key starts with its feed, so each feed's keys are independent:
// feeds may be fed by separate consumers at different cursors (a new feed
// backfilling while the others run live) without touching each other.
//
// The consumer cursor lives under the consumer package's own key (prefix
// 0xff, see firehose/consumer/keys.go) in the same DB and batch.
const (
	prefixItem   byte = 0x01
	prefixMember byte = 0x02
	prefixAuthor byte = 0x03
)

// signBit flipped makes big-endian byte order match signed order, so a
// pre-1970 time (a back-dated event) still sorts before later ones.
const signBit = 1 << 63

var errBadKey = errors.New("malformed index key")

func itemPrefix(feed string) []byte {
	k := make([]byte, 0, len(feed)+2)
	k = append(k, prefixItem)
	k = append(k, feed...)
	return append(k, 0)
}

func itemKey(feed string, ts int64, uri string) []byte {
	k := itemPrefix(feed)
	k = binary.BigEndian.AppendUint64(k, uint64(ts)^signBit)
	return append(k, uri...)
}

// splitItem returns ts and uri of an item key of feed.
func splitItem(feed string, k []byte) (int64, string, error) {
	n := len(feed) + 2
	if len(k) < n+8 {
		return 0, "", errBadKey
	}
	return int64(binary.BigEndian.Uint64(k[n:n+8]) ^ signBit), string(k[n+8:]), nil
}

func memberKey(feed, uri string) []byte {
	k := make([]byte, 0, len(feed)+len(uri)+2)
	k = append(k, prefixMember)
	k = append(k, feed...)
	k = append(k, 0)
	return append(k, uri...)
}

func authorPrefix(feed, did string) []byte {
	k := make([]byte, 0, len(feed)+len(did)+3)
	k = append(k, prefixAuthor)
	k = append(k, feed...)
	k = append(k, 0)
	k = append(k, did...)
	return append(k, 0)
}

func authorKey(feed, did, uri string) []byte { return append(authorPrefix(feed, did), uri...) }

// prefixEnd is the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// prefixInteraction keys the likes and reposts seen by a feed that counts
// them, so that a delete (which carries only the like's own URI) finds the
// subject:
//
//	0x04 feed 0x00 recordURI         -> kind(1) subjectURI
const prefixInteraction byte = 0x04

func interactionKey(feed, uri string) []byte {
	k := make([]byte, 0, len(feed)+len(uri)+2)
	k = append(k, prefixInteraction)
	k = append(k, feed...)
	k = append(k, 0)
	return append(k, uri...)
}

// prefixLikes keys the like count of a post, kept for feeds that filter on
// it:
//
//	0x05 feed 0x00 postURI           -> count (8 bytes, big-endian)
const prefixLikes byte = 0x05

func likesKey(feed, uri string) []byte {
	k := make([]byte, 0, len(feed)+len(uri)+2)
	k = append(k, prefixLikes)
	k = append(k, feed...)
	k = append(k, 0)
	return append(k, uri...)
}

// prefixReposts keys the repost count of a post, kept for ranked feeds:
//
//	0x06 feed 0x00 postURI           -> count (8 bytes, big-endian)
const prefixReposts byte = 0x06

// prefixHidden marks an author whose account is taken down, suspended or
// deactivated; their items leave the feed until the account is active
// again:
//
//	0x07 feed 0x00 did               -> status
const prefixHidden byte = 0x07

// prefixVersion holds a value that changes (a random 64-bit number) in
// every batch that changes what the feed serves, so a server can keep a
// cache of the feed and check it with one point read. The version is a
// cache validator, not index content: it is random so that concurrent
// batches of one feed (the consumer's and Expire's) never produce the same
// value without reading it, and a replayed event changes it again, which
// only costs a cache rebuild.
//
//	0x08 feed 0x00                   -> version (8 bytes)
const prefixVersion byte = 0x08

// feedKey is prefix feed 0x00 s.
func feedKey(prefix byte, feed, s string) []byte {
	k := make([]byte, 0, len(feed)+len(s)+2)
	k = append(k, prefix)
	k = append(k, feed...)
	k = append(k, 0)
	return append(k, s...)
}

// VersionKey is the key of feed's version (for a server to precompute).
func VersionKey(feed string) []byte { return feedKey(prefixVersion, feed, "") }
