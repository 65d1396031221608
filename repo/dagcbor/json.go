package dagcbor

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// FromJSON parses the JSON form of a data-model value within the default
// limits. See Limits.FromJSON.
func FromJSON(data []byte) (any, error) { return Limits{}.FromJSON(data) }

// ObjectFromJSON is FromJSON for places that need an object at the top level:
// records and XRPC bodies.
func ObjectFromJSON(data []byte) (map[string]any, error) {
	v, err := FromJSON(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: top level is %s, not an object", ErrJSON, jsonKind(v))
	}
	return m, nil
}

// FromJSON parses the JSON form of a data-model value into the generic model
// (the types Unmarshal gives for *any):
//   - {"$link": "<cid>"} becomes a cid.CID; {"$bytes": "<base64>"} a []byte
//     (standard alphabet, padding optional). Either must be the only key.
//   - numbers must be integers in the int64 range; 123.0 or 1.5e1 are taken
//     as the integers they equal, 1.5 is an error.
//   - duplicate keys, invalid UTF-8 and trailing data are errors.
//   - every object obeys the rules listed at Check.
func (l Limits) FromJSON(data []byte) (any, error) {
	l = l.withDefaults()
	if len(data) > l.MaxSize {
		return nil, fmt.Errorf("%w: input is %d bytes, limit %d", ErrLimit, len(data), l.MaxSize)
	}
	// encoding/json would quietly replace invalid UTF-8 with U+FFFD.
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: input is not valid UTF-8", ErrJSON)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	p := jsonParser{dec: d, lim: l}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the top-level value", ErrJSON)
	}
	return v, nil
}

type jsonParser struct {
	dec *json.Decoder
	lim Limits
}

func (p *jsonParser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %w", ErrJSON, err)
	}
	return tok, nil
}

// value parses one value; depth counts the containers around it.
func (p *jsonParser) value(depth int) (any, error) {
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil, bool:
		return t, nil
	case string:
		if len(t) > p.lim.MaxStringLen {
			return nil, fmt.Errorf("%w: string of %d bytes, limit %d", ErrLimit, len(t), p.lim.MaxStringLen)
		}
		return t, nil
	case json.Number:
		return jsonInt(string(t))
	case json.Delim:
		// An object one level too deep may still be a $link or $bytes, a leaf in
		// the data model; object checks once it knows.
		if t == '[' && depth+1 <= p.lim.MaxDepth {
			return p.array(depth + 1)
		}
		if t == '{' && depth <= p.lim.MaxDepth {
			return p.object(depth + 1)
		}
		if t == '[' || t == '{' {
			return nil, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, p.lim.MaxDepth)
		}
	}
	// The decoder validates syntax, so a closing delimiter cannot start a value.
	return nil, fmt.Errorf("%w: unexpected token %v", ErrJSON, tok)
}

func (p *jsonParser) array(depth int) ([]any, error) {
	out := []any{}
	for p.dec.More() {
		if len(out) == p.lim.MaxLen {
			return nil, fmt.Errorf("%w: more than %d array elements", ErrLimit, p.lim.MaxLen)
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	_, err := p.token() // ']'
	return out, err
}

// object parses the members of an object, then turns $link and $bytes objects
// into their values and checks the rest with checkObject.
func (p *jsonParser) object(depth int) (any, error) {
	m := map[string]any{}
	for p.dec.More() {
		if len(m) == p.lim.MaxLen {
			return nil, fmt.Errorf("%w: more than %d object members", ErrLimit, p.lim.MaxLen)
		}
		tok, err := p.token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string) // keys are always strings after the decoder's syntax check
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%w: duplicate key %q", ErrJSON, k)
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		m[k] = v
	}
	if _, err := p.token(); err != nil { // '}'
		return nil, err
	}
	if v, ok := m[keyLink]; ok {
		return jsonLink(m, v)
	}
	if v, ok := m[keyBytes]; ok {
		return jsonBytes(m, v)
	}
	if depth > p.lim.MaxDepth {
		return nil, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, p.lim.MaxDepth)
	}
	if err := checkObject(m); err != nil {
		return nil, err
	}
	return m, nil
}

func jsonLink(m map[string]any, v any) (cid.CID, error) {
	if len(m) != 1 {
		return cid.Undef, fmt.Errorf("%w: a $link object must have no other keys", ErrJSON)
	}
	s, ok := v.(string)
	if !ok {
		return cid.Undef, fmt.Errorf("%w: $link must be a string, got %s", ErrJSON, jsonKind(v))
	}
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: $link: %w", ErrJSON, err)
	}
	return c, nil
}

func jsonBytes(m map[string]any, v any) ([]byte, error) {
	if len(m) != 1 {
		return nil, fmt.Errorf("%w: a $bytes object must have no other keys", ErrJSON)
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%w: $bytes must be a string, got %s", ErrJSON, jsonKind(v))
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: $bytes: %w", ErrJSON, err)
	}
	return b, nil
}

// jsonInt reads a JSON number (syntax already checked) that must equal an
// int64. It works on the decimal digits rather than through float64, which
// would round 9007199254740993 and call 1.0000000000000000001 an integer, and
// rather than through big numbers, where 1e999999999 would cost gigabytes.
func jsonInt(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	neg := strings.HasPrefix(s, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		exp = clampedExp(s[i+1:])
	}
	mant = strings.TrimPrefix(mant, "-")
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		exp -= len(mant) - i - 1
		mant = mant[:i] + mant[i+1:]
	}
	// Value = mant * 10^exp. Drop zeros that do not change it.
	mant = strings.TrimLeft(mant, "0")
	for strings.HasSuffix(mant, "0") {
		mant = mant[:len(mant)-1]
		exp++
	}
	if mant == "" {
		return 0, nil
	}
	if exp < 0 {
		// mant does not end in 0, so no negative power of ten leaves an integer.
		return 0, fmt.Errorf("%w: number %s is not an integer (floats are not allowed)", ErrJSON, s)
	}
	if len(mant)+exp > 19 {
		return 0, fmt.Errorf("%w: number %s is outside the int64 range", ErrJSON, s)
	}
	u, err := strconv.ParseUint(mant+strings.Repeat("0", exp), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: number %s: %w", ErrJSON, s, err)
	}
	switch {
	case !neg && u <= math.MaxInt64:
		return int64(u), nil
	case neg && u <= math.MaxInt64+1:
		return int64(-u), nil // -u wraps to the right two's-complement value, MinInt64 included
	}
	return 0, fmt.Errorf("%w: number %s is outside the int64 range", ErrJSON, s)
}

// clampedExp parses an exponent, saturating far beyond any int64 so that a
// thousand-digit exponent neither overflows nor allocates.
func clampedExp(s string) int {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	e := 0
	for _, ch := range []byte(s) {
		e = min(e*10+int(ch-'0'), 1<<30)
	}
	if neg {
		return -e
	}
	return e
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case int64:
		return "a number"
	case []any:
		return "an array"
	case cid.CID:
		return "a $link object"
	case []byte:
		return "a $bytes object"
	}
	return "an object"
}

// ToJSON returns the JSON form of a data-model value: links as {"$link"},
// bytes as {"$bytes"} (standard base64 without padding), object keys sorted
// bytewise. v may be a generic value or anything Marshal accepts (a struct),
// which goes through its CBOR encoding. The undefined cid.CID is null, as in
// CBOR. A map that uses $link or $bytes as an ordinary key is an error, since
// its JSON form would read back as something else.
func ToJSON(v any) ([]byte, error) {
	out, err := appendJSON(nil, v, 0)
	if errors.Is(err, errNotGeneric) {
		b, merr := Marshal(v)
		if merr != nil {
			return nil, merr
		}
		var g any
		if uerr := encodeLimits.Unmarshal(b, &g); uerr != nil {
			return nil, uerr
		}
		out, err = appendJSON(nil, g, 0)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errNotGeneric sends ToJSON to its slower path through CBOR.
var errNotGeneric = errors.New("dagcbor: not a generic value")

func appendJSON(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepthCap {
		// Also stops a cycle ([]any holding itself) from overflowing the stack.
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrLimit, maxDepthCap)
	}
	switch t := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, t), nil
	case string:
		return appendJSONString(dst, t)
	case []byte:
		dst = append(dst, `{"$bytes":"`...)
		dst = base64.RawStdEncoding.AppendEncode(dst, t)
		return append(dst, `"}`...), nil
	case cid.CID:
		if !t.Defined() {
			return append(dst, "null"...), nil
		}
		dst = append(dst, `{"$link":"`...)
		dst = append(dst, t.String()...)
		return append(dst, `"}`...), nil
	case []any:
		return appendJSONArray(dst, t, depth)
	case map[string]any:
		return appendJSONObject(dst, t, depth)
	}
	if n, ok := toInt64(v); ok {
		return strconv.AppendInt(dst, n, 10), nil
	}
	return nil, errNotGeneric
}

func appendJSONArray(dst []byte, a []any, depth int) ([]byte, error) {
	dst = append(dst, '[')
	for i, e := range a {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendJSON(dst, e, depth+1); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

func appendJSONObject(dst []byte, m map[string]any, depth int) ([]byte, error) {
	if _, ok := m[keyLink]; ok {
		return nil, fmt.Errorf("%w: %s used as an ordinary key has no JSON form", ErrModel, keyLink)
	}
	if _, ok := m[keyBytes]; ok {
		return nil, fmt.Errorf("%w: %s used as an ordinary key has no JSON form", ErrModel, keyBytes)
	}
	dst = append(dst, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendJSONString(dst, k); err != nil {
			return nil, err
		}
		dst = append(dst, ':')
		if dst, err = appendJSON(dst, m[k], depth+1); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// appendJSONString quotes s, escaping only what JSON requires: the quote,
// the backslash and control characters. Non-ASCII text stays as UTF-8.
func appendJSONString(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: string %q", ErrUTF8, s)
	}
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"' || ch == '\\':
			dst = append(dst, '\\', ch)
		case ch == '\n':
			dst = append(dst, '\\', 'n')
		case ch == '\r':
			dst = append(dst, '\\', 'r')
		case ch == '\t':
			dst = append(dst, '\\', 't')
		case ch < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		default:
			dst = append(dst, ch)
		}
	}
	return append(dst, '"'), nil
}
