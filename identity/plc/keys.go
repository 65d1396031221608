package plc

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Pebble layout of the development directory. There is one keyspace, one
// key per accepted operation:
//
//	key:   'p' | did (32 bytes: "did:plc:" + 24 base32) | index (uint64, big-endian)
//	value: 0x01 (format version) | createdAt (int64 Unix microseconds, big-endian) | op
//
// where op is the DAG-CBOR of the signed operation (Op.Bytes), so its CID is
// the hash of the stored bytes. index is 0 for the genesis and counts up by
// one; big-endian makes byte order log order, so a DID's head is the last key
// under its prefix. Every did:plc has the same length, so one DID's prefix
// is never a prefix of another's keys. A database shared with other
// keyspaces must leave the prefix byte 'p' to this one.
const (
	prefixOp       byte = 'p'
	opKeyLen            = 1 + didLen + 8
	valueVersion   byte = 0x01
	valueHeaderLen      = 1 + 8
)

// opKey is the key of operation index of did, which must be a checked DID.
func opKey(did string, index uint64) []byte {
	k := make([]byte, 0, opKeyLen)
	k = append(k, prefixOp)
	k = append(k, did...)
	return binary.BigEndian.AppendUint64(k, index)
}

// didBounds returns the iterator bounds covering every key of did. The
// upper bound bumps the DID's last byte, a base32 character, so it cannot
// overflow.
func didBounds(did string) (lower, upper []byte) {
	lower = append([]byte{prefixOp}, did...)
	upper = append([]byte(nil), lower...)
	upper[len(upper)-1]++
	return lower, upper
}

// opKeyIndex returns the index in a key found under a DID's bounds.
func opKeyIndex(k []byte) (uint64, error) {
	if len(k) != opKeyLen {
		return 0, fmt.Errorf("operation key of %d bytes, want %d", len(k), opKeyLen)
	}
	return binary.BigEndian.Uint64(k[1+didLen:]), nil
}

func encodeOpValue(createdAt time.Time, op []byte) []byte {
	v := make([]byte, 0, valueHeaderLen+len(op))
	v = append(v, valueVersion)
	v = binary.BigEndian.AppendUint64(v, uint64(createdAt.UnixMicro()))
	return append(v, op...)
}

// decodeOpValue splits a stored value. op aliases v.
func decodeOpValue(v []byte) (createdAt time.Time, op []byte, err error) {
	if len(v) < valueHeaderLen || v[0] != valueVersion {
		return time.Time{}, nil, fmt.Errorf("operation value: unknown format")
	}
	us := int64(binary.BigEndian.Uint64(v[1:valueHeaderLen]))
	return time.UnixMicro(us).UTC(), v[valueHeaderLen:], nil
}
