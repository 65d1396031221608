package dagcbor

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Reserved keys of the JSON form. In the JSON form an object with $link or
// $bytes is a link or bytes, so a map using them as ordinary keys has no JSON
// form; $type names an object's schema.
const (
	keyLink  = "$link"
	keyBytes = "$bytes"
	keyType  = "$type"
	typeBlob = "blob"
)

// Check reports whether v is a well-formed generic data-model value: built
// only from nil, bool, Go integers (within int64), valid UTF-8 strings,
// []byte, []any, map[string]any and defined cid.CID values, and obeying the
// rules that hold in both the CBOR and the JSON form:
//   - a map's $type, if present, is a non-empty string;
//   - a map with $type "blob" has a link ref, a non-empty string mimeType and
//     an integer size >= 0;
//   - no map uses $link or $bytes as an ordinary key.
//
// FromJSON applies these rules itself. Unmarshal does not: it checks the
// encoding only, as a relay passing records through needs; call Check on a
// decoded value to apply the data-model rules too.
func Check(v any) error { return check(v, 0) }

func check(v any, depth int) error {
	if depth > maxDepthCap {
		return fmt.Errorf("%w: nested deeper than %d", ErrLimit, maxDepthCap)
	}
	switch t := v.(type) {
	case nil, bool, []byte:
		return nil
	case string:
		if !utf8.ValidString(t) {
			return fmt.Errorf("%w: string %q", ErrUTF8, t)
		}
		return nil
	case cid.CID:
		if !t.Defined() {
			return fmt.Errorf("%w: undefined link", ErrModel)
		}
		return nil
	case []any:
		for i, e := range t {
			if err := check(e, depth+1); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case map[string]any:
		if err := checkObject(t); err != nil {
			return err
		}
		for k, e := range t {
			if !utf8.ValidString(k) {
				return fmt.Errorf("%w: map key %q", ErrUTF8, k)
			}
			if err := check(e, depth+1); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return nil
	}
	if _, ok := toInt64(v); ok {
		return nil
	}
	return fmt.Errorf("%w: Go type %T", ErrModel, v)
}

// checkObject applies the per-object rules ($link and $bytes are not keys,
// $type is a non-empty string, a blob is complete) to one map whose values are
// already in the generic model.
func checkObject(m map[string]any) error {
	if _, ok := m[keyLink]; ok {
		return fmt.Errorf("%w: %s used as an ordinary key", ErrModel, keyLink)
	}
	if _, ok := m[keyBytes]; ok {
		return fmt.Errorf("%w: %s used as an ordinary key", ErrModel, keyBytes)
	}
	tv, ok := m[keyType]
	if !ok {
		return nil
	}
	typ, ok := tv.(string)
	if !ok || typ == "" {
		return fmt.Errorf("%w: %s must be a non-empty string, got %#v", ErrModel, keyType, tv)
	}
	if typ == typeBlob {
		return checkBlob(m)
	}
	return nil
}

// checkBlob checks the fields of a blob reference. Extra keys are allowed, as
// for any object; the legacy form {cid, mimeType} has no $type and is not a
// blob as far as these rules go.
func checkBlob(m map[string]any) error {
	if ref, ok := m["ref"].(cid.CID); !ok || !ref.Defined() {
		return fmt.Errorf("%w: blob ref must be a link, got %#v", ErrModel, m["ref"])
	}
	if mt, ok := m["mimeType"].(string); !ok || mt == "" {
		return fmt.Errorf("%w: blob mimeType must be a non-empty string, got %#v", ErrModel, m["mimeType"])
	}
	if size, ok := toInt64(m["size"]); !ok || size < 0 {
		return fmt.Errorf("%w: blob size must be an integer >= 0, got %#v", ErrModel, m["size"])
	}
	return nil
}

// toInt64 converts any Go integer within the int64 range.
func toInt64(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case int:
		return int64(t), true
	case int32:
		return int64(t), true
	case int16:
		return int64(t), true
	case int8:
		return int64(t), true
	case uint8:
		return int64(t), true
	case uint16:
		return int64(t), true
	case uint32:
		return int64(t), true
	case uint:
		if uint64(t) > math.MaxInt64 {
			return 0, false
		}
		return int64(t), true
	case uint64:
		if t > math.MaxInt64 {
			return 0, false
		}
		return int64(t), true
	}
	return 0, false
}
