package pds

import (
	"encoding/binary"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// The repository store is one Pebble DB (DataDir/repo). Every key starts with
// a prefix byte naming its keyspace; integers are big-endian so byte order is
// numeric order. An account's data is keyed by its uid (a small integer given
// at creation) rather than its DID, which keeps the per-block keys short and
// lets one DeleteRange per keyspace remove a deleted account.
//
//	'm' name                      -> meta value (see meta* below)
//	'a' did                       -> account (DAG-CBOR accountRec)
//	'h' handle (lower case)       -> did
//	'u' uid(8)                    -> did; listRepos walks this in creation order
//	'c' uid(8)                    -> head (DAG-CBOR headRec): commit, rev, data
//	'r' uid(8) collection '/' rkey -> record CID (binary, 36 bytes)
//	'b' uid(8) cid(36)            -> rev(13) ‖ block; rev is the commit that wrote it
//	'B' uid(8) cid(36)            -> blob: uvarint(len(mime)) ‖ mime ‖ data
//	'p' did                       -> pending events not yet known to be in the event log
//	't' jti                       -> refresh token (DAG-CBOR refreshRec)
//
// Records are indexed ('r') besides living in the MST so that getRecord and
// listRecords (with reverse order and cursors) are one seek, not a tree walk.
// Pending entries ('p') are keyed by DID, outside the uid ranges, so that the
// #account event of a deleted account survives the deletion of its data.
const (
	prefixMeta    = 'm'
	prefixAccount = 'a'
	prefixHandle  = 'h'
	prefixUID     = 'u'
	prefixHead    = 'c'
	prefixRecord  = 'r'
	prefixBlock   = 'b'
	prefixBlob    = 'B'
	prefixPending = 'p'
	prefixRefresh = 't'
)

// Meta keys.
const (
	metaJWTSecret  = "jwt-secret"     // HMAC key of session tokens (when Config.JWTSecret is empty)
	metaRotation   = "plc-rotation"   // private multibase of the PDS's did:plc rotation key
	metaNextUID    = "next-uid"       // uid(8) for the next account
	metaStoreMagic = "format"         // storeFormat
	storeFormat    = "conflux-pds-v1" // bumped if a keyspace changes incompatibly
)

// revLen is the length of the rev stored before each block.
const revLen = 13

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

func accountKey(did string) []byte { return append([]byte{prefixAccount}, did...) }

func handleKey(handle string) []byte { return append([]byte{prefixHandle}, handle...) }

func pendingKey(did string) []byte { return append([]byte{prefixPending}, did...) }

func refreshKey(jti string) []byte { return append([]byte{prefixRefresh}, jti...) }

// uidKey is prefix ‖ uid, the start of every per-account keyspace.
func uidKey(prefix byte, uid uint64) []byte {
	k := make([]byte, 9, 9+64)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], uid)
	return k
}

func headKey(uid uint64) []byte { return uidKey(prefixHead, uid) }

func recordKey(uid uint64, path string) []byte { return append(uidKey(prefixRecord, uid), path...) }

// collectionPrefix is the start of one collection's records: the '/' keeps
// "a.b.c" from matching "a.b.cd".
func collectionPrefix(uid uint64, collection string) []byte {
	return append(append(uidKey(prefixRecord, uid), collection...), '/')
}

func blockKey(uid uint64, c cid.CID) []byte { return c.AppendBytes(uidKey(prefixBlock, uid)) }

func blobKey(uid uint64, c cid.CID) []byte { return c.AppendBytes(uidKey(prefixBlob, uid)) }

// prefixEnd returns the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
