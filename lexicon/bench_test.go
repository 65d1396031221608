package lexicon

import (
	"os"
	"testing"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// BenchmarkValidateRecordPost validates a typical post: reply, three facets,
// an image with alt text, two languages, self-labels and a tag.
func BenchmarkValidateRecordPost(b *testing.B) {
	c := Default()
	rec := mustJSON(b, typicalPost)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.ValidateRecord(NSIDFeedPost, rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRecordPost decodes, validates and types the real post
// vector (a quote with an image).
func BenchmarkDecodeRecordPost(b *testing.B) {
	data, err := os.ReadFile(feedPostVector)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRecord(NSIDFeedPost, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateRecordPostCBOR is the relay or appview path: decode the
// generic value from DAG-CBOR, then validate it.
func BenchmarkValidateRecordPostCBOR(b *testing.B) {
	c := Default()
	data, err := dagcbor.Marshal(mustJSON(b, typicalPost))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var rec map[string]any
		if err := dagcbor.Unmarshal(data, &rec); err != nil {
			b.Fatal(err)
		}
		if err := c.ValidateRecord(NSIDFeedPost, rec); err != nil {
			b.Fatal(err)
		}
	}
}
