package feedgen

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
)

// encodeCursor makes the opaque cursor of an item of a newest-first feed:
// base64url of its big-endian indexed time and its URI.
func encodeCursor(it index.Item) string {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(it.URI)), uint64(it.IndexedAt))
	return base64.RawURLEncoding.EncodeToString(append(b, it.URI...))
}

// appendCursor appends ,"cursor":"..." for it.
func appendCursor(out []byte, it index.Item) []byte {
	var scratch [160]byte
	raw := binary.BigEndian.AppendUint64(scratch[:0], uint64(it.IndexedAt))
	raw = append(raw, it.URI...)
	out = append(out, `],"cursor":"`...)
	return append(base64.RawURLEncoding.AppendEncode(out, raw), '"')
}

func decodeCursor(s string) (index.Item, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 9 || !validCursorURI(b[8:]) {
		return index.Item{}, wrapf(ErrInvalidRequest, "malformed cursor")
	}
	return index.Item{IndexedAt: int64(binary.BigEndian.Uint64(b)), URI: string(b[8:])}, nil
}

func validCursorURI(b []byte) bool {
	return bytes.HasPrefix(b, []byte("at://")) && bytes.IndexByte(b, 0) < 0
}

// rankCursor is the position after an item of a ranking: the ranking's
// generation and the next offset in it, and the item's sort key to find
// its place in a later ranking once that one is gone.
type rankCursor struct {
	gen    uint64
	offset int
	score  float64
	ts     int64
	uri    string
}

// rankCursorHead is gen(8) offset(4) score(8) ts(8), before the URI.
const rankCursorHead = 28

// appendRankCursor appends ,"cursor":"..." for rc (after closing the
// feed array).
func appendRankCursor(out []byte, rc rankCursor) []byte {
	var scratch [192]byte
	raw := binary.BigEndian.AppendUint64(scratch[:0], rc.gen)
	raw = binary.BigEndian.AppendUint32(raw, uint32(rc.offset))
	raw = binary.BigEndian.AppendUint64(raw, math.Float64bits(rc.score))
	raw = binary.BigEndian.AppendUint64(raw, uint64(rc.ts))
	raw = append(raw, rc.uri...)
	out = append(out, `],"cursor":"`...)
	return append(base64.RawURLEncoding.AppendEncode(out, raw), '"')
}

// cursorAfter is the cursor after v.items[last].
func (v *view) cursorAfter(last int) rankCursor {
	it := v.items[last]
	return rankCursor{gen: v.gen, offset: last + 1, score: it.score, ts: it.ts, uri: it.uri}
}

func decodeRankCursor(s string) (rankCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < rankCursorHead+1 || !validCursorURI(b[rankCursorHead:]) {
		return rankCursor{}, wrapf(ErrInvalidRequest, "malformed cursor")
	}
	rc := rankCursor{
		gen:    binary.BigEndian.Uint64(b),
		offset: int(binary.BigEndian.Uint32(b[8:])),
		score:  math.Float64frombits(binary.BigEndian.Uint64(b[12:])),
		ts:     int64(binary.BigEndian.Uint64(b[20:])),
		uri:    string(b[rankCursorHead:]),
	}
	if math.IsNaN(rc.score) {
		return rankCursor{}, wrapf(ErrInvalidRequest, "malformed cursor")
	}
	return rc, nil
}

// locate finds where the page after rc starts: in rc's own ranking if it
// is still kept and agrees with rc; else in the current one, after rc's
// item if it is there (its score has moved), or after rc's (score, time,
// URI) position if it is not.
func (rk *rankings) locate(rc rankCursor) (*view, int) {
	for _, v := range append([]*view{rk.cur}, rk.old...) {
		if v.gen == rc.gen && rc.offset >= 1 && rc.offset <= len(v.items) && v.items[rc.offset-1].uri == rc.uri {
			return v, rc.offset
		}
	}
	v := rk.cur
	if i := slices.IndexFunc(v.items, func(it viewItem) bool { return it.uri == rc.uri }); i >= 0 {
		return v, i + 1
	}
	i, found := slices.BinarySearchFunc(v.items, rc, func(it viewItem, rc rankCursor) int {
		return -rankCmp(it.score, it.ts, it.uri, rc.score, rc.ts, rc.uri)
	})
	if found {
		i++
	}
	return v, i
}
