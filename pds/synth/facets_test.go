package synth

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// want is one expected facet, by the exact text it spans.
type want struct {
	kind  FacetKind
	span  string // text[ByteStart:ByteEnd]
	value string
	start int // expected ByteStart; -1 to skip the check
}

func TestDetectFacets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []want
	}{
		{"plain", "nothing to see here", nil},
		{"mention at start", "@alice.test hi", []want{{FacetMention, "@alice.test", "alice.test", 0}}},
		{"mention upper case", "hi @Alice.Bsky.Social!", []want{{FacetMention, "@Alice.Bsky.Social", "alice.bsky.social", 3}}},
		{"mention trailing dot", "thanks @bob.test.", []want{{FacetMention, "@bob.test", "bob.test", 7}}},
		{"mention in parens", "(cc @bob.test)", []want{{FacetMention, "@bob.test", "bob.test", 4}}},
		{"email is no mention", "mail bob@example.com now", nil},
		{"mention glued to a word", "@bob.test_x and @bob.testé", nil},
		{"not a handle", "@bob and @-x.test", nil},
		// "é" is 2 bytes and the emoji 4, so the offsets are byte offsets.
		{"mention after multibyte", "café 🎉 @bob.test", []want{{FacetMention, "@bob.test", "bob.test", len("café 🎉 ")}}},
		{"tag", "love this #atproto", []want{{FacetTag, "#atproto", "atproto", 10}}},
		{"tag trailing punctuation", "so good #café!!", []want{{FacetTag, "#café", "café", 8}}},
		{"japanese tag", "今日は雨 #東京 です", []want{{FacetTag, "#東京", "東京", len("今日は雨 ")}}},
		{"fullwidth hash", "写真 ＃ラーメン", []want{{FacetTag, "＃ラーメン", "ラーメン", len("写真 ")}}},
		{"korean tag after emoji", "👩‍👩‍👧 #서울", []want{{FacetTag, "#서울", "서울", len("👩‍👩‍👧 ")}}},
		{"number is no tag", "issue #123 and #1st", []want{{FacetTag, "#1st", "1st", -1}}},
		{"keycap is no tag", "press #️⃣ now", nil},
		{"hash inside a word", "C#sharp a#b", nil},
		{"tag ends at zero-width space", "#tag\u200bmore", []want{{FacetTag, "#tag", "tag", 0}}},
		{"tag too long", "#" + strings.Repeat("a", 65), nil},
		{"tag at limit", "#" + strings.Repeat("é", 64), []want{{FacetTag, "#" + strings.Repeat("é", 64), strings.Repeat("é", 64), 0}}},
		{"link", "see https://example.com/a?b=c#d ok", []want{{FacetLink, "https://example.com/a?b=c#d", "https://example.com/a?b=c#d", 4}}},
		{"link trailing period", "read http://example.org/x.", []want{{FacetLink, "http://example.org/x", "http://example.org/x", 5}}},
		{"link in parens", "(https://example.com/x)", []want{{FacetLink, "https://example.com/x", "https://example.com/x", 1}}},
		{"link with parens", "https://en.example.org/wiki/Go_(language)", []want{{FacetLink, "https://en.example.org/wiki/Go_(language)", "https://en.example.org/wiki/Go_(language)", 0}}},
		{"upper-case scheme", "HTTPS://Example.com/Path", []want{{FacetLink, "HTTPS://Example.com/Path", "https://Example.com/Path", 0}}},
		{"bare domain", "go to example.com/docs, now", []want{{FacetLink, "example.com/docs", "https://example.com/docs", 6}}},
		{"bare domain unknown tld", "e.g. v1.2 and example.comfoo", nil},
		{"no host", "https:// and http://", nil},
		{"link after japanese", "これ→ https://example.jp/記事", []want{{FacetLink, "https://example.jp/記事", "https://example.jp/%E8%A8%98%E4%BA%8B", len("これ→ ")}}},
		{"link after many parens", "((((((((((((https://example.com/x))", []want{{FacetLink, "https://example.com/x", "https://example.com/x", 12}}},
		{"link tries are bounded per word", strings.Repeat("(a", 20) + "(https://example.com " + "https://example.org", []want{{FacetLink, "https://example.org", "https://example.org", -1}}},
		{"all three", "🙂 @ana.test #café https://example.com 🎉", []want{
			{FacetMention, "@ana.test", "ana.test", len("🙂 ")},
			{FacetTag, "#café", "café", -1},
			{FacetLink, "https://example.com", "https://example.com", -1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := DetectFacets(tc.text)
			if len(got) != len(tc.want) {
				t.Fatalf("DetectFacets(%q) = %+v, want %d facets", tc.text, got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Kind != w.kind || tc.text[g.ByteStart:g.ByteEnd] != w.span || g.Value != w.value {
					t.Errorf("facet %d = %+v spanning %q, want kind %d span %q value %q",
						i, g, tc.text[g.ByteStart:g.ByteEnd], w.kind, w.span, w.value)
				}
				if w.start >= 0 && g.ByteStart != w.start {
					t.Errorf("facet %d starts at byte %d, want %d", i, g.ByteStart, w.start)
				}
			}
		})
	}
}

// TestFacetByteOffsetsMultibyte pins exact numbers for text where byte,
// rune and UTF-16 offsets all differ, so an implementation counting the
// wrong unit fails.
func TestFacetByteOffsetsMultibyte(t *testing.T) {
	t.Parallel()
	text := "東京🎉 #夜景 @ana.test"
	got := DetectFacets(text)
	// 東京 = 6 bytes, 🎉 = 4 bytes, space = 1: '#' is at byte 11 (rune 4,
	// UTF-16 unit 5). #夜景 is 7 bytes; then a space; '@' at byte 19.
	wantSpans := [][2]int{{11, 18}, {19, 28}}
	if len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	for i, w := range wantSpans {
		if got[i].ByteStart != w[0] || got[i].ByteEnd != w[1] {
			t.Errorf("facet %d spans [%d,%d), want [%d,%d)", i, got[i].ByteStart, got[i].ByteEnd, w[0], w[1])
		}
	}
	recs := FacetsValue(got, func(h string) (string, bool) { return "did:plc:ana", h == "ana.test" })
	want := []any{
		map[string]any{
			"$type":    "app.bsky.richtext.facet",
			"index":    map[string]any{"byteStart": int64(11), "byteEnd": int64(18)},
			"features": []any{map[string]any{"$type": "app.bsky.richtext.facet#tag", "tag": "夜景"}},
		},
		map[string]any{
			"$type":    "app.bsky.richtext.facet",
			"index":    map[string]any{"byteStart": int64(19), "byteEnd": int64(28)},
			"features": []any{map[string]any{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:ana"}},
		},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("FacetsValue = %#v\nwant %#v", recs, want)
	}
}

func TestFacetsValueDropsUnresolvedMentions(t *testing.T) {
	t.Parallel()
	facets := DetectFacets("@nobody.test and @ana.test #x")
	recs := FacetsValue(facets, func(h string) (string, bool) { return "did:plc:ana", h == "ana.test" })
	if len(recs) != 2 {
		t.Fatalf("got %d facets, want 2 (the unresolved mention dropped): %v", len(recs), recs)
	}
	first := recs[0].(map[string]any)["features"].([]any)[0].(map[string]any)
	if first["did"] != "did:plc:ana" {
		t.Fatalf("first facet %v, want the mention of ana", first)
	}
}

// checkFacetInvariants holds for any input: facets are ordered, disjoint,
// inside the text, on rune boundaries, and span what their value says.
func checkFacetInvariants(t *testing.T, text string, facets []Facet) {
	t.Helper()
	prevEnd := 0
	for i, f := range facets {
		if f.ByteStart < prevEnd || f.ByteEnd <= f.ByteStart || f.ByteEnd > len(text) {
			t.Fatalf("facet %d %+v out of order or bounds (prev end %d, len %d)", i, f, prevEnd, len(text))
		}
		prevEnd = f.ByteEnd
		span := text[f.ByteStart:f.ByteEnd]
		if !utf8.ValidString(span) {
			t.Fatalf("facet %d spans invalid UTF-8 %q", i, span)
		}
		switch f.Kind {
		case FacetMention:
			if span[0] != '@' || strings.ToLower(span[1:]) != f.Value {
				t.Fatalf("mention %+v spans %q", f, span)
			}
		case FacetTag:
			if !strings.HasSuffix(span, f.Value) || (span[:len(span)-len(f.Value)] != "#" && span[:len(span)-len(f.Value)] != "＃") {
				t.Fatalf("tag %+v spans %q", f, span)
			}
			if n := utf8.RuneCountInString(f.Value); n == 0 || n > maxTagRunes {
				t.Fatalf("tag %+v has %d runes", f, n)
			}
		case FacetLink:
			want := "https://" + span
			if k := strings.Index(span, "://"); hasPrefixFold(span, "http://") || hasPrefixFold(span, "https://") {
				want = strings.ToLower(span[:k]) + span[k:]
			}
			if f.Value != escapeNonASCII(want) {
				t.Fatalf("link %+v spans %q, want value %q", f, span, escapeNonASCII(want))
			}
		default:
			t.Fatalf("facet %d has kind %d", i, f.Kind)
		}
	}
}

func FuzzDetectFacets(f *testing.F) {
	for _, s := range []string{
		"", "@", "#", "＃", "@a.test", "#tag", "https://example.com", "(((((https://x.co",
		"東京🎉 #夜景 @ana.test", "#️⃣", "#\xff\xfe", "@bob.test\xff", "http://\x00",
		"example.com/" + strings.Repeat("(", 50), "# # # #a#b#c", "HTTP://EXAMPLE.COM/X).",
		"#" + strings.Repeat("😀", 70), "@" + strings.Repeat("a.", 200) + "test",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		facets := DetectFacets(text)
		checkFacetInvariants(t, text, facets)
		// Detection is a pure function of the text, and the facet records
		// it makes always pass the data-model check.
		if again := DetectFacets(text); !reflect.DeepEqual(again, facets) {
			t.Fatalf("second detection differs: %+v vs %+v", again, facets)
		}
		recs := FacetsValue(facets, func(string) (string, bool) { return "did:plc:x", true })
		if len(recs) != len(facets) {
			t.Fatalf("%d records for %d facets", len(recs), len(facets))
		}
	})
}
