package dagcbor

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLink is a dag-cbor CID in its CBOR link form, used to build inputs.
var testLink = cid.Sum(cid.DagCBOR, []byte("test"))

func linkHex() string { return hex.EncodeToString(testLink.AppendCBOR(nil)) }

// nested returns n arrays, each holding the next, around a null.
func nested(n int) []byte {
	return append(bytes.Repeat([]byte{0x81}, n), 0xf6)
}

// rejectCases are inputs every decoder here must refuse, with the reason.
func rejectCases(t testing.TB) []struct {
	name string
	in   []byte
	want error
} {
	cidBin := hex.EncodeToString(testLink.Bytes())
	return []struct {
		name string
		in   []byte
		want error
	}{
		{"empty input", nil, ErrTruncated},
		{"unsorted keys", unhex(t, "a2 6162 01 6161 02"), ErrNotCanonical},
		{"bytewise but not length-first", unhex(t, "a2 626161 01 6162 02"), ErrNotCanonical},
		{"duplicate key", unhex(t, "a2 6161 01 6161 02"), ErrDuplicateKey},
		{"int 1 in one byte", unhex(t, "18 01"), ErrNotCanonical},
		{"int 23 in one byte", unhex(t, "18 17"), ErrNotCanonical},
		{"int 255 in two bytes", unhex(t, "19 00ff"), ErrNotCanonical},
		{"int 65535 in four bytes", unhex(t, "1a 0000ffff"), ErrNotCanonical},
		{"int in eight bytes", unhex(t, "1b 00000000ffffffff"), ErrNotCanonical},
		{"negative int not shortest", unhex(t, "38 00"), ErrNotCanonical},
		{"string length not shortest", unhex(t, "78 01 61"), ErrNotCanonical},
		{"array length not shortest", unhex(t, "98 00"), ErrNotCanonical},
		{"map length not shortest", unhex(t, "b8 01 6161 01"), ErrNotCanonical},
		{"key length not shortest", unhex(t, "a1 7801 61 01"), ErrNotCanonical},
		{"uint above int64", unhex(t, "1b 8000000000000000"), ErrForbidden},
		{"negative below int64", unhex(t, "3b 8000000000000000"), ErrForbidden},
		{"float64", unhex(t, "fb 3ff0000000000000"), ErrForbidden},
		{"float32", unhex(t, "fa 3f800000"), ErrForbidden},
		{"float16", unhex(t, "f9 3c00"), ErrForbidden},
		{"float in a map", unhex(t, "a1 6161 fb 3ff8000000000000"), ErrForbidden},
		{"undefined", unhex(t, "f7"), ErrForbidden},
		{"simple value 16", unhex(t, "f0"), ErrForbidden},
		{"simple value 32", unhex(t, "f8 20"), ErrForbidden},
		{"lone break", unhex(t, "ff"), ErrForbidden},
		{"tag 0 datetime", append(unhex(t, "c0 74"), "2013-03-21T20:04:00Z"...), ErrForbidden},
		{"tag 1 epoch", unhex(t, "c1 1a 514b67b0"), ErrForbidden},
		{"tag 2 bignum", unhex(t, "c2 49 010000000000000000"), ErrForbidden},
		{"tag 43", unhex(t, "d8 2b 41 00"), ErrForbidden},
		{"tag 42 not shortest", unhex(t, "d9 002a 5825 00"+cidBin), ErrNotCanonical},
		{"tag 42 around text", unhex(t, "d8 2a 61 61"), ErrLink},
		{"tag 42 without 0x00 prefix", unhex(t, "d8 2a 5824"+cidBin), ErrLink},
		{"tag 42 empty bytes", unhex(t, "d8 2a 40"), ErrLink},
		{"tag 42 CIDv0", unhex(t, "d8 2a 5823 00 1220"+strings.Repeat("ab", 32)), ErrLink},
		{"tag 42 sha-512 CID", unhex(t, "d8 2a 5845 00 017113 40"+strings.Repeat("ab", 64)), ErrLink},
		{"tag 42 CID with trailing byte", unhex(t, "d8 2a 5826 00"+cidBin+"00"), ErrLink},
		{"tag 42 at end", unhex(t, "d8 2a"), ErrTruncated},
		{"indefinite array", unhex(t, "9f ff"), ErrForbidden},
		{"indefinite map", unhex(t, "bf ff"), ErrForbidden},
		{"indefinite bytes", unhex(t, "5f 4100 ff"), ErrForbidden},
		{"indefinite text", unhex(t, "7f 6161 ff"), ErrForbidden},
		{"reserved additional info", unhex(t, "1c"), ErrForbidden},
		{"integer key", unhex(t, "a1 01 02"), ErrKeyType},
		{"byte string key", unhex(t, "a1 4161 02"), ErrKeyType},
		{"null key", unhex(t, "a1 f6 02"), ErrKeyType},
		{"invalid UTF-8 text", unhex(t, "62 fffe"), ErrUTF8},
		{"invalid UTF-8 key", unhex(t, "a1 61ff 01"), ErrUTF8},
		{"trailing bytes", unhex(t, "f6 f6"), ErrTrailing},
		{"truncated text", unhex(t, "62 61"), ErrTruncated},
		{"truncated argument", unhex(t, "1a 0001"), ErrTruncated},
		{"truncated map", unhex(t, "a2 6161 01"), ErrTruncated},
		{"2 GiB byte string", unhex(t, "5a 80000000"), ErrTruncated},
		{"2^64-1 byte text", unhex(t, "7b ffffffffffffffff"), ErrTruncated},
		{"2^31 element array", unhex(t, "9a 80000000 00"), ErrLimit},
		{"2^64-1 element array", unhex(t, "9b ffffffffffffffff"), ErrLimit},
		{"2^63 pair map", unhex(t, "bb 8000000000000000"), ErrLimit},
		{"array claims more than remains", unhex(t, "99 1000 00"), ErrTruncated},
		{"map claims more than remains", unhex(t, "b9 1000 6161 00"), ErrTruncated},
		{"too deep", nested(DefaultMaxDepth + 1), ErrLimit},
		{"far too deep", nested(100000), ErrLimit},
	}
}

func TestRejectNonCanonical(t *testing.T) {
	t.Parallel()
	for _, c := range rejectCases(t) {
		if err := Valid(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: Valid(%x) = %v, want %v", c.name, c.in, err, c.want)
		}
		var v any
		if err := Unmarshal(c.in, &v); !errors.Is(err, c.want) {
			t.Errorf("%s: Unmarshal = %#v, %v, want %v", c.name, v, err, c.want)
		}
		var p feedPost
		if err := Unmarshal(c.in, &p); !errors.Is(err, c.want) {
			t.Errorf("%s: Unmarshal into struct = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestAcceptEdges(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		in   string
		want any
	}{
		{"zero", "00", int64(0)},
		{"23", "17", int64(23)},
		{"24", "18 18", int64(24)},
		{"256", "19 0100", int64(256)},
		{"65536", "1a 00010000", int64(65536)},
		{"2^32", "1b 0000000100000000", int64(1 << 32)},
		{"max int64", "1b 7fffffffffffffff", int64(math.MaxInt64)},
		{"-1", "20", int64(-1)},
		{"min int64", "3b 7fffffffffffffff", int64(math.MinInt64)},
		{"false", "f4", false},
		{"true", "f5", true},
		{"null", "f6", nil},
		{"empty text", "60", ""},
		{"empty bytes", "40", []byte{}},
		{"empty array", "80", []any{}},
		{"empty map", "a0", map[string]any{}},
		{"top-level link", linkHex(), testLink},
		{"link in array", "81" + linkHex(), []any{testLink}},
		{"sorted keys", "a3 6161 01 6162 02 626161 03", map[string]any{"a": int64(1), "b": int64(2), "aa": int64(3)}},
		{"empty key first", "a2 60 01 6161 02", map[string]any{"": int64(1), "a": int64(2)}},
		{"max depth", hex.EncodeToString(nested(DefaultMaxDepth)), nestedValue(DefaultMaxDepth)},
	} {
		in := unhex(t, c.in)
		if err := Valid(in); err != nil {
			t.Errorf("%s: Valid: %v", c.name, err)
			continue
		}
		var v any
		if err := Unmarshal(in, &v); err != nil {
			t.Errorf("%s: Unmarshal: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(v, c.want) {
			t.Errorf("%s: got %#v (%T), want %#v", c.name, v, v, c.want)
		}
		out, err := Marshal(v)
		if err != nil || !bytes.Equal(out, in) {
			t.Errorf("%s: Marshal = %x, %v; want %x", c.name, out, err, in)
		}
	}
}

func nestedValue(n int) any { return nestedAround(n, nil) }

func TestLimits(t *testing.T) {
	t.Parallel()
	arr16 := append([]byte{0x90}, make([]byte, 16)...) // 16 zeros
	str10 := append([]byte{0x6a}, "0123456789"...)
	for _, c := range []struct {
		name string
		lim  Limits
		in   []byte
		ok   bool
	}{
		{"depth 3 of 3", Limits{MaxDepth: 3}, nested(3), true},
		{"depth 4 of 3", Limits{MaxDepth: 3}, nested(4), false},
		{"16 elements of 16", Limits{MaxLen: 16}, arr16, true},
		{"16 elements of 15", Limits{MaxLen: 15}, arr16, false},
		{"string 10 of 10", Limits{MaxStringLen: 10}, str10, true},
		{"string 10 of 9", Limits{MaxStringLen: 9}, str10, false},
		{"size 11 of 11", Limits{MaxSize: 11}, str10, true},
		{"size 11 of 10", Limits{MaxSize: 10}, str10, false},
		{"link counts as a string", Limits{MaxStringLen: 36}, testLink.AppendCBOR(nil), false},
		{"map pairs", Limits{MaxLen: 1}, unhex(t, "a2 6161 01 6162 02"), false},
	} {
		err := c.lim.Valid(c.in)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrLimit)) {
			t.Errorf("%s: Valid = %v", c.name, err)
		}
		var v any
		err = c.lim.Unmarshal(c.in, &v)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrLimit)) {
			t.Errorf("%s: Unmarshal = %v", c.name, err)
		}
	}
	// The configured depth is capped, so a huge setting cannot overflow the stack.
	if err := (Limits{MaxDepth: math.MaxInt}).Valid(nested(maxDepthCap + 1)); !errors.Is(err, ErrLimit) {
		t.Errorf("depth cap: %v", err)
	}
}

func TestValidDoesNotAllocate(t *testing.T) {
	raw := readFeedPost(t)
	allocs := testing.AllocsPerRun(100, func() {
		if err := Valid(raw); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Valid allocates %v times per call", allocs)
	}
}

// TestHugeClaimsAllocateLittle: headers that claim gigabytes fail before
// anything is allocated for them. Not parallel, so that the allocation
// counter sees only this test.
func TestHugeClaimsAllocateLittle(t *testing.T) {
	for _, in := range []string{"5a 80000000", "7b ffffffffffffffff", "9a 80000000 00", "bb 8000000000000000", "99 ffff 00"} {
		b := unhex(t, in)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var v any
		err := Unmarshal(b, &v)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%s accepted", in)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Errorf("%s: %d bytes allocated before failing", in, n)
		}
	}
}

func TestMarshalRefusesOutsideModel(t *testing.T) {
	t.Parallel()
	type withFloat struct {
		F float64 `cbor:"f"`
	}
	for _, c := range []struct {
		name string
		v    any
		want error
	}{
		{"float", map[string]any{"a": 1.5}, ErrForbidden},
		{"integer-like float", 1.0, ErrForbidden},
		{"float32", float32(2), ErrForbidden},
		{"struct float field", withFloat{F: 3}, ErrForbidden},
		{"integer keys", map[int]any{1: "x"}, ErrKeyType},
		{"bool keys", map[bool]int{true: 1}, ErrKeyType},
		{"uint64 above int64", uint64(math.MaxInt64) + 1, ErrForbidden},
		{"invalid UTF-8", "\xff", ErrUTF8},
		{"invalid UTF-8 key", map[string]any{"\xff": 1}, ErrUTF8},
	} {
		if b, err := Marshal(c.v); !errors.Is(err, c.want) {
			t.Errorf("%s: Marshal = %x, %v; want %v", c.name, b, err, c.want)
		}
	}
}

func TestMarshalGoTypes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"int", 1, "01"},
		{"int8 negative", int8(-2), "21"},
		{"uint16", uint16(500), "19 01f4"},
		{"nil slice is empty", []string(nil), "80"},
		{"nil map is empty", map[string]int(nil), "a0"},
		{"nil bytes are empty", []byte(nil), "40"},
		{"nil pointer is null", (*int)(nil), "f6"},
		{"typed map sorted length-first", map[string]int{"bb": 1, "a": 2, "c": 3}, "a3 6161 02 6163 03 626262 01"},
		{"undefined CID is null", cid.Undef, "f6"},
		{"CID", testLink, linkHex()},
		{"CID pointer", &testLink, linkHex()},
	} {
		got, err := Marshal(c.v)
		if err != nil || !bytes.Equal(got, unhex(t, c.want)) {
			t.Errorf("%s: Marshal = %x, %v; want %s", c.name, got, err, c.want)
		}
	}
}

type linkFields struct {
	Null    cid.CID  `cbor:"n"`           // nullable: always present
	Opt     cid.CID  `cbor:"o,omitzero"`  // optional: absent when undefined
	Trap    cid.CID  `cbor:"t,omitempty"` // omitempty cannot see into a CID
	Ptr     *cid.CID `cbor:"p"`
	PtrOpt  *cid.CID `cbor:"q,omitempty"`
	Version int64    `cbor:"version"`
}

func TestStructLinks(t *testing.T) {
	t.Parallel()
	// Zero links: n and t are null, o and q absent, p null.
	zero := linkFields{Version: 3}
	b, err := Marshal(zero)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "a4 616e f6 6170 f6 6174 f6 6776657273696f6e 03")
	if !bytes.Equal(b, want) {
		t.Fatalf("zero links: %x, want %x", b, want)
	}
	var back linkFields
	if err := Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, zero) {
		t.Fatalf("zero links back: %+v, %v", back, err)
	}

	l := testLink
	full := linkFields{Null: l, Opt: l, Trap: l, Ptr: &l, PtrOpt: &l, Version: 3}
	b, err = Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]any
	if err := Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"n", "o", "t", "p", "q"} {
		if g[k] != l {
			t.Errorf("field %s = %#v, want the link", k, g[k])
		}
	}
	back = linkFields{}
	if err := Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, full) {
		t.Fatalf("full links back: %+v, %v", back, err)
	}

	// A link field given the wrong CBOR type is an error, not a zero value.
	bad := unhex(t, "a2 616e 6161 6776657273696f6e 03")
	if err := Unmarshal(bad, &back); err == nil {
		t.Fatal("text decoded into a cid.CID field")
	}
}

func TestUnmarshalGenericTypes(t *testing.T) {
	t.Parallel()
	var v any
	if err := Unmarshal(readFeedPost(t), &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case nil, bool, int64, string, []byte, cid.CID:
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		default:
			t.Errorf("decoded a %T, outside the generic model", x)
		}
	}
	walk(v)
}

func TestUnmarshalDoesNotAliasInput(t *testing.T) {
	t.Parallel()
	in := unhex(t, "a1 6162 43 010203")
	var v map[string]any
	if err := Unmarshal(in, &v); err != nil {
		t.Fatal(err)
	}
	in[len(in)-1] = 0xff
	if got := v["b"].([]byte); !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Fatalf("decoded bytes changed with the input: %x", got)
	}
}

func TestCIDCBORForm(t *testing.T) {
	t.Parallel()
	for _, c := range []cid.CID{testLink, cid.Sum(cid.Raw, []byte("blob"))} {
		b, err := c.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		if want := append(unhex(t, "d82a582500"), c.Bytes()...); !bytes.Equal(b, want) {
			t.Fatalf("MarshalCBOR = %x, want %x", b, want)
		}
		if err := Valid(b); err != nil {
			t.Fatalf("Valid(link) = %v", err)
		}
		var d cid.CID
		if err := d.UnmarshalCBOR(b); err != nil || d != c {
			t.Fatalf("UnmarshalCBOR = %v, %v", d, err)
		}
	}
	d := testLink
	if err := d.UnmarshalCBOR([]byte{0xf6}); err != nil || d.Defined() {
		t.Fatalf("null gives %v, %v; want undefined", d, err)
	}
	full := testLink.AppendCBOR(nil)
	for name, in := range map[string][]byte{
		"empty":          nil,
		"undefined":      {0xf7},
		"text":           unhex(t, "6161"),
		"tag 43":         append([]byte{0xd8, 0x2b}, full[2:]...),
		"long tag head":  append(unhex(t, "d9002a"), full[2:]...),
		"long byte head": append(unhex(t, "d82a590025"), full[4:]...),
		"no 0x00 prefix": append(unhex(t, "d82a5824"), full[5:]...),
		"truncated":      full[:len(full)-1],
		"trailing":       append(append([]byte{}, full...), 0),
		"CIDv0 content":  append(unhex(t, "d82a582300 1220"), make([]byte, 32)...),
	} {
		var c cid.CID
		if err := c.UnmarshalCBOR(in); !errors.Is(err, cid.ErrNotLink) {
			t.Errorf("%s: UnmarshalCBOR(%x) = %v, want ErrNotLink", name, in, err)
		}
	}
}

func TestStructFieldsMatchCaseSensitively(t *testing.T) {
	t.Parallel()
	type post struct {
		Text  string   `cbor:"text"`
		Langs []string `cbor:"langs,omitempty"`
	}
	b, err := Marshal(map[string]any{"text": "hi", "Langs": []any{"en"}})
	if err != nil {
		t.Fatal(err)
	}
	var p post
	if err := Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Text != "hi" || p.Langs != nil {
		t.Fatalf("key %q filled field langs: %+v", "Langs", p)
	}
}
