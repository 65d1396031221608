package cid

import (
	"bytes"
	"errors"
	"testing"
)

// The root CID of an empty MST (the empty node {e:[], l:null}) is a well-known constant.
const emptyMSTRoot = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"

func TestSumMatchesKnownConstant(t *testing.T) {
	t.Parallel()
	// DAG-CBOR of {"e": [], "l": null}.
	node := []byte{0xa2, 0x61, 'e', 0x80, 0x61, 'l', 0xf6}
	c := Sum(DagCBOR, node)
	if got := c.String(); got != emptyMSTRoot {
		t.Fatalf("Sum = %s, want %s", got, emptyMSTRoot)
	}
	if !c.Matches(node) || c.Matches(node[1:]) {
		t.Fatal("Matches disagrees with Sum")
	}
}

func TestStringBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	for _, codec := range []Codec{DagCBOR, Raw} {
		c := Sum(codec, []byte("hello"))
		s := c.String()
		d, err := Decode(s)
		if err != nil || d != c {
			t.Fatalf("Decode(%s) = %v, %v", s, d, err)
		}
		b := c.Bytes()
		if len(b) != Len {
			t.Fatalf("Bytes len %d", len(b))
		}
		p, err := Parse(b)
		if err != nil || p != c {
			t.Fatalf("Parse = %v, %v", p, err)
		}
		if c.Codec() != codec {
			t.Fatalf("codec %v", c.Codec())
		}
	}
	if s := Sum(DagCBOR, nil).String(); s[:7] != "bafyrei" {
		t.Fatalf("dag-cbor CID %s does not start with bafyrei", s)
	}
	if s := Sum(Raw, nil).String(); s[:7] != "bafkrei" {
		t.Fatalf("raw CID %s does not start with bafkrei", s)
	}
}

func TestUndefined(t *testing.T) {
	t.Parallel()
	if Undef.Defined() || Undef.String() != "" || Undef.Bytes() != nil {
		t.Fatal("zero CID must be undefined, empty string, nil bytes")
	}
	m := map[CID]int{Sum(Raw, []byte("a")): 1}
	if m[Sum(Raw, []byte("a"))] != 1 {
		t.Fatal("CID does not work as a map key")
	}
}

func TestRejects(t *testing.T) {
	t.Parallel()
	good := Sum(DagCBOR, []byte("x")).Bytes()
	mut := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	binCases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTooShort},
		{"short digest", good[:20], ErrTooShort},
		{"cidv0", append([]byte{0x12, 0x20}, good[4:]...), ErrVersion},
		{"version 2", mut(0, 2), ErrVersion},
		{"dag-pb codec", mut(1, 0x70), ErrCodec},
		{"varint codec", mut(1, 0x81), ErrCodec},
		{"sha1", mut(2, 0x11), ErrHash},
		{"short hash len", mut(3, 0x10), ErrHash},
		{"trailing", append(bytes.Clone(good), 0), ErrTrailing},
	}
	for _, tc := range binCases {
		if _, err := Parse(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("Parse(%s) = %v, want %v", tc.name, err, tc.want)
		}
	}
	strCases := []struct {
		in   string
		want error
	}{
		{"", ErrMultibase},
		{"QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n", ErrVersion},
		{"zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7", ErrMultibase},
		{"BAFYREIE5737GDXLW5I64VZICHCALBA3Z2V5N6ICIFVX5XYTVSKE7MR3HPM", ErrMultibase},
		// dag-pb (bafybei...) is well formed but not an atproto codec.
		{"bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", ErrCodec},
		{emptyMSTRoot[:58], ErrMultibase},
		{emptyMSTRoot[:58] + "1", ErrMultibase},
	}
	for _, tc := range strCases {
		if _, err := Decode(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("Decode(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestNonCanonicalBase32Rejected(t *testing.T) {
	t.Parallel()
	// The last base32 character carries 4 padding bits that must be zero.
	s := []byte(emptyMSTRoot)
	last := s[len(s)-1]
	for _, ch := range []byte("abcdefghijklmnopqrstuvwxyz234567") {
		if ch == last {
			continue
		}
		s[len(s)-1] = ch
		if c, err := Decode(string(s)); err == nil && c.String() != string(s) {
			t.Fatalf("Decode accepted non-canonical %s", s)
		}
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	a, b := Sum(DagCBOR, []byte("a")), Sum(DagCBOR, []byte("b"))
	if Compare(a, a) != 0 || Compare(Undef, a) >= 0 || Compare(a, b) != -Compare(b, a) {
		t.Fatal("Compare is not an order")
	}
	if want := bytes.Compare(a.Bytes(), b.Bytes()); Compare(a, b) != want {
		t.Fatalf("Compare = %d, bytes.Compare = %d", Compare(a, b), want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Sum(DagCBOR, nil).Bytes())
	f.Add(Sum(Raw, []byte("x")).Bytes())
	f.Add([]byte{0x01, 0x71, 0x12, 0x20})
	f.Add([]byte{0x12, 0x20, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatalf("round trip %x -> %x", b, c.Bytes())
		}
		d, err := Decode(c.String())
		if err != nil || d != c {
			t.Fatalf("string round trip: %v", err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add(emptyMSTRoot)
	f.Add("bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy")
	f.Add("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n")
	f.Add("b")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Decode(s)
		if err != nil {
			return
		}
		if c.String() != s {
			t.Fatalf("Decode(%q).String() = %q", s, c.String())
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(emptyMSTRoot); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkString(b *testing.B) {
	c := MustDecode(emptyMSTRoot)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.String()
	}
}
