package mst

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
)

// Limits that keep a hostile tree from costing unbounded work.
const (
	// MaxKeyLen is the longest key accepted, in bytes (as the reference
	// implementations cap it).
	MaxKeyLen = 1024
	// MaxEntries is the most entries one node may hold. Ordinary nodes hold a
	// handful; key mining can pile many into one node, and this is the cap the
	// reference decoder (cbor-gen) applies.
	MaxEntries = 8192
	// MaxLayer is the highest layer (key height) accepted. A key above it needs
	// more than 64 leading zero bits, which no honest key has a real chance of
	// and no one can mine, so it also bounds recursion depth.
	MaxLayer = 32
)

// Errors about keys and values.
var (
	ErrInvalidKey   = errors.New("mst: invalid key")
	ErrInvalidValue = errors.New("mst: value must be a defined CID")
)

// Height returns the MST layer of key: the leading zero bits of its SHA-256
// digest divided by two (fanout 4).
func Height(key []byte) int {
	return digestHeight(sha256.Sum256(key))
}

// heightString is Height for a string key without converting it on the heap:
// the digest input is copied into a stack buffer when it fits.
func heightString(key string) int {
	var buf [256]byte
	if len(key) <= len(buf) {
		n := copy(buf[:], key)
		return digestHeight(sha256.Sum256(buf[:n]))
	}
	return digestHeight(sha256.Sum256([]byte(key)))
}

func digestHeight(d [32]byte) int {
	zeros := 0
	for _, b := range d {
		if b != 0 {
			zeros += bits.LeadingZeros8(b)
			break
		}
		zeros += 8
	}
	return zeros / 2
}

// CommonPrefixLen returns how many leading bytes a and b share.
func CommonPrefixLen(a, b []byte) int { return commonPrefix(a, b) }

func commonPrefix[K ~string | ~[]byte](a, b K) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// checkKey validates a key given to an edit and returns its height.
func checkKey(key string) (int, error) {
	if len(key) == 0 {
		return 0, fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return 0, fmt.Errorf("%w: %d bytes, max %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	h := heightString(key)
	if h > MaxLayer {
		return 0, fmt.Errorf("%w: %q has height %d, max %d", ErrInvalidKey, key, h, MaxLayer)
	}
	return h, nil
}
