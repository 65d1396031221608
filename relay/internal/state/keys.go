package state

import (
	"encoding/binary"
	"fmt"
)

// Keyspace of the relay's state DB (one Pebble store, shared with the host
// consumers' durable cursors, which live under consumer.CursorKey):
//
//	'a' did      -> account record (binary, see account.go; older records JSON)
//	'u' uid u64  -> did (big-endian UID: the accounts in first-seen order)
//	'h' hostname -> host record (JSON, see Host)
//	'b' domain   -> banned domain marker (empty value)
//
// Account records are read and written once per event, so they have a small
// binary form; host records are few and rarely written, and JSON keeps them
// readable in a debugger and easy to extend.
const (
	prefixAccount   = 'a'
	prefixHost      = 'h'
	prefixDomainBan = 'b'
	prefixUID       = 'u'
)

func accountKey(did string) []byte   { return append([]byte{prefixAccount}, did...) }
func hostKey(hostname string) []byte { return append([]byte{prefixHost}, hostname...) }
func domainBanKey(d string) []byte   { return append([]byte{prefixDomainBan}, d...) }

func uidKey(uid uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixUID}, uid)
}

func decodeUIDKey(k []byte) (uint64, error) {
	if len(k) != 9 || k[0] != prefixUID {
		return 0, fmt.Errorf("bad uid key %x", k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

// upperBound returns the first key after every key with prefix p.
func upperBound(p byte) []byte { return []byte{p + 1} }

// prefixLocal holds an account's local status ('l' did -> status string),
// apart from the account record: admin takedowns write it while an ingester
// may be rewriting the record in its own batch, and neither must undo the
// other. Absent means active.
const prefixLocal = 'l'

func localKey(did string) []byte { return append([]byte{prefixLocal}, did...) }
