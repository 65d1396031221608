package car

import (
	"fmt"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// The header is always the same two-key map, so it is decoded and encoded by
// hand as fixed byte patterns around the roots array: a general DAG-CBOR
// decoder would accept other key orders, wider heads or extra keys, and each
// of those would be a second encoding of the same header.
const (
	cborMap2    = 0xa2 // map with 2 entries
	cborVersion = 0x01 // unsigned 1
	linkLen     = 5 + cid.Len
)

var (
	keyRoots   = []byte{0x65, 'r', 'o', 'o', 't', 's'}
	keyVersion = []byte{0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n'}
)

// headerLen is the encoded size of a header with n roots.
func headerLen(n int) int {
	return 1 + len(keyRoots) + arrayHeadLen(uint64(n)) + n*linkLen + len(keyVersion) + 1
}

func arrayHeadLen(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	}
	return 9
}

// appendHeader appends the header map (without its length prefix).
func appendHeader(dst []byte, roots []cid.CID) []byte {
	dst = append(dst, cborMap2)
	dst = append(dst, keyRoots...)
	dst = appendArrayHead(dst, uint64(len(roots)))
	for _, r := range roots {
		dst = r.AppendCBOR(dst)
	}
	dst = append(dst, keyVersion...)
	return append(dst, cborVersion)
}

func appendArrayHead(dst []byte, n uint64) []byte {
	const major = 4 << 5
	switch arrayHeadLen(n) {
	case 1:
		return append(dst, major|byte(n))
	case 2:
		return append(dst, major|24, byte(n))
	case 3:
		return append(dst, major|25, byte(n>>8), byte(n))
	case 5:
		return append(dst, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// parseArrayHead reads a shortest-form CBOR array head at the start of b.
func parseArrayHead(b []byte) (n uint64, size int, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: roots: missing value", ErrHeader)
	}
	if b[0]>>5 != 4 {
		return 0, 0, fmt.Errorf("%w: roots: not an array (initial byte 0x%02x)", ErrHeader, b[0])
	}
	info := b[0] & 0x1f
	switch {
	case info < 24:
		return uint64(info), 1, nil
	case info > 27:
		// 28-30 are reserved and 31 is an indefinite length, which DAG-CBOR forbids.
		return 0, 0, fmt.Errorf("%w: roots: array head 0x%02x", ErrHeader, b[0])
	}
	size = 1 + 1<<(info-24)
	if len(b) < size {
		return 0, 0, fmt.Errorf("%w: roots: array head cut short", ErrHeader)
	}
	for _, c := range b[1:size] {
		n = n<<8 | uint64(c)
	}
	if arrayHeadLen(n) != size {
		return 0, 0, fmt.Errorf("%w: roots: array length %d not in shortest form", ErrHeader, n)
	}
	return n, size, nil
}

// parseHeader decodes the header map h (without its length prefix).
func parseHeader(h []byte) ([]cid.CID, error) {
	if len(h) == 0 || h[0] != cborMap2 {
		return nil, fmt.Errorf("%w: want a map of exactly roots and version", ErrHeader)
	}
	p := h[1:]
	if !hasPrefix(p, keyRoots) {
		return nil, fmt.Errorf("%w: first key must be roots", ErrHeader)
	}
	p = p[len(keyRoots):]
	n, size, err := parseArrayHead(p)
	if err != nil {
		return nil, err
	}
	p = p[size:]
	// Each root is a fixed-size link, so the count is checked against the
	// bytes present before the slice is allocated.
	if n > uint64(len(p)/linkLen) {
		return nil, fmt.Errorf("%w: %d roots do not fit in the header", ErrHeader, n)
	}
	roots := make([]cid.CID, n)
	for i := range roots {
		if err := roots[i].UnmarshalCBOR(p[:linkLen]); err != nil {
			return nil, fmt.Errorf("%w: root %d: %w", ErrHeader, i, err)
		}
		p = p[linkLen:]
	}
	if !hasPrefix(p, keyVersion) {
		return nil, fmt.Errorf("%w: second key must be version", ErrHeader)
	}
	p = p[len(keyVersion):]
	if len(p) == 0 || p[0] != cborVersion {
		return nil, fmt.Errorf("%w: version must be 1", ErrHeader)
	}
	if len(p) > 1 {
		return nil, fmt.Errorf("%w: %d bytes after the map", ErrHeader, len(p)-1)
	}
	return roots, nil
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}
