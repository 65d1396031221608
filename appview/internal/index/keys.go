package index

import (
	"encoding/binary"
)

// Key layout of the AppView index. Every key starts with one prefix byte;
// variable-length parts (AT-URIs, DIDs, record keys) never contain 0x00, so
// a 0x00 separator keeps prefixes unambiguous and byte order groups each
// subject's entries together. Integers are big-endian.
//
//	'm' "format"                    -> format version byte        written once; see CheckFormat
//	'r' uri                         -> len(cid) cid body          the current version of every indexed record, pre-built (record.go)
//	'c' subject 0x00 kind           -> int64                      an aggregate count; absent means 0
//	'a' did                         -> actor state (encodeActor: status length, status, handle)
//	'v' did                         -> repo state: desynced flag, len(rev), rev, MST root CID
//	'h' handle                      -> DID that last claimed the handle in an #identity event
//	'f' did 0x00 rkey 0x00 coll     -> empty                      author feed items (posts and reposts), TID order
//	'p' parentURI 0x00 replyURI     -> empty                      direct replies of a post
//	'q' quotedURI 0x00 quoteURI     -> empty                      quotes of a post
//	'l' subjectURI 0x00 likeURI     -> empty                      likes of a record
//	's' subjectURI 0x00 repostURI   -> empty                      reposts of a record
//	'F' subjectDID 0x00 followURI   -> empty                      followers of an actor
//	'G' did 0x00 rkey               -> subject DID                accounts an actor follows
//
// The lists are a pure function of the set of records stored under 'r',
// and the counts of those records and the accounts' statuses under 'a'
// (only visible authors count), so applying a record twice (same CID) is a
// no-op, an update is "remove the old effects, add the new", and a delete
// removes exactly the effects the stored version had.
const (
	pMeta      byte = 'm'
	pRecord    byte = 'r'
	pCount     byte = 'c'
	pActor     byte = 'a'
	pHandle    byte = 'h'
	pRepo      byte = 'v'
	pFeed      byte = 'f'
	pReply     byte = 'p'
	pQuote     byte = 'q'
	pLike      byte = 'l'
	pRepost    byte = 's'
	pFollower  byte = 'F'
	pFollowing byte = 'G'
)

// Count kinds, the last byte of a 'c' key.
type CountKind byte

const (
	CountLikes     CountKind = 'L'
	CountReposts   CountKind = 'R'
	CountReplies   CountKind = 'P'
	CountQuotes    CountKind = 'Q'
	CountFollowers CountKind = 'F'
	CountFollows   CountKind = 'G'
	CountPosts     CountKind = 'N'
)

func key(prefix byte, parts ...string) []byte {
	n := 1
	for _, p := range parts {
		n += len(p) + 1
	}
	k := make([]byte, 0, n)
	k = append(k, prefix)
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

func countKey(subject string, kind CountKind) []byte {
	k := key(pCount, subject)
	return append(k, 0, byte(kind))
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func encodeInt(n int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(n))
}

func decodeInt(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}
