package dagcbor

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

func TestJSONInt(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"123", 123, true},
		{"-45", -45, true},
		{"123.0", 123, true},
		{"123.000", 123, true},
		{"1.5e1", 15, true},
		{"1E2", 100, true},
		{"1e+2", 100, true},
		{"100e-2", 1, true},
		{"0.1e1", 1, true},
		{"0.0e99999", 0, true},
		{"0e-99999999999999999999", 0, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"9.223372036854775807e18", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"-9223372036854775808.0", math.MinInt64, true},
		{"123.456", 0, false},
		{"1.5", 0, false},
		{"1e-1", 0, false},
		{"1.0000000000000000001", 0, false},
		{"9007199254740993.5", 0, false},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"1e19", 0, false},
		{"1e999999999999999999999", 0, false},
		{"-1e999999999999999999999", 0, false},
		{"1e-999999999999999999999", 0, false},
	} {
		got, err := jsonInt(c.in)
		if c.ok != (err == nil) || got != c.want {
			t.Errorf("jsonInt(%s) = %d, %v; want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !errors.Is(err, ErrJSON) {
			t.Errorf("jsonInt(%s) error %v is not ErrJSON", c.in, err)
		}
	}
}

func TestFromJSON(t *testing.T) {
	t.Parallel()
	link := testLink.String()
	for _, c := range []struct {
		name string
		in   string
		want any
	}{
		{"scalars", `[null, true, false, 0, "x"]`, []any{nil, true, false, int64(0), "x"}},
		{"escapes", `"a\"b\\c\u00e9\n"`, "a\"b\\c\u00e9\n"},
		{"link", `{"$link":"` + link + `"}`, testLink},
		{"bytes unpadded", `{"$bytes":"aGk"}`, []byte("hi")},
		{"bytes padded", `{"$bytes":"aGk="}`, []byte("hi")},
		{"empty bytes", `{"$bytes":""}`, []byte{}},
		{"empty containers", `{"a":[],"b":{}}`, map[string]any{"a": []any{}, "b": map[string]any{}}},
		{"legacy blob", `{"cid":"x","mimeType":"image/png"}`, map[string]any{"cid": "x", "mimeType": "image/png"}},
		{"blob", `{"$type":"blob","ref":{"$link":"` + link + `"},"mimeType":"a/b","size":0}`,
			map[string]any{"$type": "blob", "ref": testLink, "mimeType": "a/b", "size": int64(0)}},
		{"other $ keys pass", `{"$foo":1}`, map[string]any{"$foo": int64(1)}},
		{"whitespace", " \n{ } \t", map[string]any{}},
		// Links and bytes are leaves, as in CBOR: they add no nesting level.
		{"bytes at max depth", strings.Repeat("[", DefaultMaxDepth) + `{"$bytes":""}` + strings.Repeat("]", DefaultMaxDepth),
			nestedAround(DefaultMaxDepth, []byte{})},
	} {
		got, err := FromJSON([]byte(c.in))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: FromJSON = %#v, %v; want %#v", c.name, got, err, c.want)
		}
	}
}

func TestFromJSONRejects(t *testing.T) {
	t.Parallel()
	link := testLink.String()
	deep := strings.Repeat("[", DefaultMaxDepth+1) + strings.Repeat("]", DefaultMaxDepth+1)
	for _, c := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", ``, ErrJSON},
		{"syntax", `{"a":}`, ErrJSON},
		{"unterminated", `[1,2`, ErrJSON},
		{"trailing value", `{} {}`, ErrJSON},
		{"trailing garbage", `1 x`, ErrJSON},
		{"duplicate key", `{"a":1,"a":2}`, ErrJSON},
		{"float", `1.5`, ErrJSON},
		{"huge int", `99999999999999999999`, ErrJSON},
		{"invalid UTF-8", "\"\xff\"", ErrJSON},
		{"link and bytes", `{"$link":"` + link + `","$bytes":""}`, ErrJSON},
		{"link to CIDv0", `{"$link":"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"}`, ErrJSON},
		{"link null", `{"$link":null}`, ErrJSON},
		{"bytes bad base64", `{"$bytes":"!!"}`, ErrJSON},
		{"bytes URL alphabet", `{"$bytes":"-_8"}`, ErrJSON},
		{"$type number", `{"$type":1}`, ErrModel},
		{"blob size negative", `{"$type":"blob","ref":{"$link":"` + link + `"},"mimeType":"a/b","size":-1}`, ErrModel},
		{"blob ref string", `{"$type":"blob","ref":"` + link + `","mimeType":"a/b","size":1}`, ErrModel},
		{"blob empty mimeType", `{"$type":"blob","ref":{"$link":"` + link + `"},"mimeType":"","size":1}`, ErrModel},
		{"too deep", deep, ErrLimit},
		{"object too deep", strings.Repeat("[", DefaultMaxDepth) + `{}` + strings.Repeat("]", DefaultMaxDepth), ErrLimit},
	} {
		if v, err := FromJSON([]byte(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: FromJSON = %#v, %v; want %v", c.name, v, err, c.want)
		}
	}
	lim := Limits{MaxLen: 2, MaxStringLen: 3, MaxSize: 20}
	for _, in := range []string{`[1,2,3]`, `{"a":1,"b":2,"c":3}`, `"abcd"`, `"` + strings.Repeat("a", 30) + `"`} {
		if v, err := lim.FromJSON([]byte(in)); !errors.Is(err, ErrLimit) {
			t.Errorf("FromJSON(%s) over limits = %#v, %v", in, v, err)
		}
	}
}

func TestToJSON(t *testing.T) {
	t.Parallel()
	type small struct {
		B    []byte  `cbor:"b"`
		Link cid.CID `cbor:"link"`
		N    int     `cbor:"n"`
	}
	link := testLink.String()
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"scalars", []any{nil, true, int64(-3), 7, uint8(8)}, `[null,true,-3,7,8]`},
		{"sorted keys", map[string]any{"b": 1, "a": 2, "aa": 3}, `{"a":2,"aa":3,"b":1}`},
		{"escapes", "q\"\\\n\r\t\x01\u00e9<>&", `"q\"\\\n\r\t\u0001` + "\u00e9<>&\""},
		{"bytes", []byte("hi"), `{"$bytes":"aGk"}`},
		{"link", testLink, `{"$link":"` + link + `"}`},
		{"undefined link", cid.Undef, `null`},
		{"struct via CBOR", small{B: []byte{1}, Link: testLink, N: 5}, `{"b":{"$bytes":"AQ"},"link":{"$link":"` + link + `"},"n":5}`},
		{"struct nested in generic", map[string]any{"s": small{}}, `{"s":{"b":{"$bytes":""},"link":null,"n":0}}`},
	} {
		got, err := ToJSON(c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: ToJSON = %s, %v; want %s", c.name, got, err, c.want)
		}
	}

	cyclic := []any{nil}
	cyclic[0] = cyclic
	for name, v := range map[string]any{
		"float":         1.5,
		"$link key":     map[string]any{"$link": "x"},
		"$bytes key":    map[string]any{"$bytes": "x"},
		"invalid UTF-8": "\xff",
		"uint64 range":  uint64(math.MaxUint64),
		"cycle":         cyclic,
	} {
		if got, err := ToJSON(v); err == nil {
			t.Errorf("%s: ToJSON = %s, want an error", name, got)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	good := map[string]any{
		"$type": "app.bsky.feed.post",
		"a":     []any{nil, true, int64(1), 2, "s", []byte{1}, testLink, map[string]any{}},
		"blob":  map[string]any{"$type": "blob", "ref": testLink, "mimeType": "image/png", "size": 10},
	}
	if err := Check(good); err != nil {
		t.Fatalf("Check(good) = %v", err)
	}
	for name, c := range map[string]struct {
		v    any
		want error
	}{
		"float":              {map[string]any{"a": 1.5}, ErrModel},
		"struct":             {struct{}{}, ErrModel},
		"typed slice":        {[]string{"x"}, ErrModel},
		"undefined link":     {[]any{cid.Undef}, ErrModel},
		"empty $type":        {map[string]any{"$type": ""}, ErrModel},
		"null $type":         {map[string]any{"$type": nil}, ErrModel},
		"$link key":          {map[string]any{"$link": "x"}, ErrModel},
		"$bytes key":         {map[string]any{"$bytes": []byte{}}, ErrModel},
		"blob no ref":        {map[string]any{"$type": "blob", "mimeType": "a/b", "size": 1}, ErrModel},
		"blob string size":   {map[string]any{"$type": "blob", "ref": testLink, "mimeType": "a/b", "size": "1"}, ErrModel},
		"blob huge size":     {map[string]any{"$type": "blob", "ref": testLink, "mimeType": "a/b", "size": uint64(math.MaxUint64)}, ErrModel},
		"nested bad":         {[]any{map[string]any{"x": []any{map[string]any{"$type": 5}}}}, ErrModel},
		"invalid UTF-8":      {"\xff", ErrUTF8},
		"invalid UTF-8 key":  {map[string]any{"\xff": 1}, ErrUTF8},
		"deep beyond cap":    {nestedValue(maxDepthCap + 2), ErrLimit},
		"uint64 above int64": {uint64(math.MaxInt64) + 1, ErrModel},
	} {
		if err := Check(c.v); !errors.Is(err, c.want) {
			t.Errorf("%s: Check = %v, want %v", name, err, c.want)
		}
	}
}

// TestModelRulesOnDecodedCBOR shows the split: Unmarshal accepts a
// well-encoded map whose $type is empty, and Check then rejects it.
func TestModelRulesOnDecodedCBOR(t *testing.T) {
	t.Parallel()
	b, err := Marshal(map[string]any{"$type": "", "a": int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := Unmarshal(b, &v); err != nil {
		t.Fatalf("Unmarshal = %v", err)
	}
	if err := Check(v); !errors.Is(err, ErrModel) {
		t.Fatalf("Check = %v, want ErrModel", err)
	}
}

func nestedAround(n int, leaf any) any {
	v := leaf
	for range n {
		v = []any{v}
	}
	return v
}
