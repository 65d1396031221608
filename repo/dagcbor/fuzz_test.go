package dagcbor

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// addCBORSeeds seeds a fuzz target with every CBOR input the tests know: the
// interop fixtures, the feed post, and the adversarial shapes.
func addCBORSeeds(f *testing.F) {
	for _, fx := range readJSONFile[fixture](f, fixturesPath) {
		b, err := base64.RawStdEncoding.DecodeString(fx.CBORBase64)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(readFeedPost(f))
	for _, c := range rejectCases(f) {
		if len(c.in) < 1<<10 {
			f.Add(c.in)
		}
	}
	f.Add(testLink.AppendCBOR(nil))
	f.Add([]byte{0xf6})
}

// FuzzUnmarshal: any bytes either fail to decode, or decode to a value that
// re-encodes to the identical bytes; Valid agrees with Unmarshal; a decoded
// value that passes Check survives the JSON form unchanged.
func FuzzUnmarshal(f *testing.F) {
	addCBORSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		err := Unmarshal(data, &v)
		if verr := Valid(data); (verr == nil) != (err == nil) {
			t.Fatalf("Valid = %v but Unmarshal = %v", verr, err)
		}
		var p feedPost
		_ = Unmarshal(data, &p) // must not panic; the shape may not fit
		if err != nil {
			return
		}
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("decoded %#v but cannot re-encode: %v", v, err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("re-encoding differs\n  in %x\n out %x", data, out)
		}
		if Check(v) != nil {
			return
		}
		j, err := ToJSON(v)
		if err != nil {
			t.Fatalf("ToJSON of a checked value: %v", err)
		}
		back, err := FromJSON(j)
		if err != nil {
			t.Fatalf("FromJSON(ToJSON) = %v\n%s", err, j)
		}
		if !reflect.DeepEqual(back, v) {
			t.Fatalf("JSON round trip differs\n got %#v\nwant %#v", back, v)
		}
	})
}

// FuzzFromJSON: any text either fails, or gives a value that passes Check,
// whose JSON and CBOR forms both read back as the same value.
func FuzzFromJSON(f *testing.F) {
	for _, fx := range readJSONFile[fixture](f, fixturesPath) {
		f.Add([]byte(fx.JSON))
	}
	for _, path := range []string{validPath, invalidPath} {
		for _, c := range readJSONFile[noteCase](f, path) {
			f.Add([]byte(c.JSON))
		}
	}
	for _, s := range []string{
		`1.0`, `1e3`, `-0`, `1e99999999999`, `9223372036854775808`, `"\ud800"`,
		`{"a":1,"a":2}`, `{"$link":"x","$bytes":"y"}`, `{"$bytes":"aGk="}`, `[[[[[[]]]]]]`,
		`{"$type":"blob","ref":{"$link":"` + testLink.String() + `"},"mimeType":"a","size":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := FromJSON(data)
		if err != nil {
			if !errors.Is(err, ErrJSON) && !errors.Is(err, ErrModel) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if err := Check(v); err != nil {
			t.Fatalf("FromJSON gave a value Check rejects: %v", err)
		}
		j, err := ToJSON(v)
		if err != nil {
			t.Fatalf("ToJSON: %v", err)
		}
		again, err := FromJSON(j)
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("JSON round trip: %v\n got %#v\nwant %#v", err, again, v)
		}
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var back any
		if err := (Limits{MaxSize: 2 * DefaultMaxSize}).Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("CBOR round trip: %v\n got %#v\nwant %#v", err, back, v)
		}
	})
}

// FuzzLinkUnmarshalCBOR: cid.CID.UnmarshalCBOR accepts exactly the bytes
// MarshalCBOR writes, and agrees with Valid about links.
func FuzzLinkUnmarshalCBOR(f *testing.F) {
	f.Add(testLink.AppendCBOR(nil))
	f.Add(cid.Sum(cid.Raw, nil).AppendCBOR(nil))
	f.Add([]byte{0xf6})
	f.Add([]byte{0xf7})
	f.Add([]byte{0xd8, 0x2a, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		var c cid.CID
		if err := c.UnmarshalCBOR(data); err != nil {
			if !errors.Is(err, cid.ErrNotLink) {
				t.Fatalf("error without ErrNotLink: %v", err)
			}
			if len(data) > 0 && data[0] == 0xd8 && Valid(data) == nil {
				t.Fatalf("Valid accepts %x as a link, UnmarshalCBOR does not: %v", data, err)
			}
			return
		}
		out, err := c.MarshalCBOR()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("MarshalCBOR = %x, %v; want %x", out, err, data)
		}
		if err := Valid(data); err != nil {
			t.Fatalf("UnmarshalCBOR accepts %x, Valid does not: %v", data, err)
		}
	})
}
