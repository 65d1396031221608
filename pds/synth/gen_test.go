package synth

import (
	"bytes"
	"image"
	_ "image/jpeg" // decoders for the generated blobs
	_ "image/png"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

var testTime = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func fixedNow() time.Time { return testTime }

// testPeople are mention candidates with real-looking DIDs.
var testPeople = []person{
	{handle: "quiet-river-1.test", did: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"},
	{handle: "brave-otter-2.test", did: "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"},
}

func testRef(n int) strongRef {
	rec := map[string]any{"$type": postNSID, "text": strings.Repeat("x", n), "createdAt": datetime(testTime)}
	return strongRef{
		URI: recordURI(testPeople[n%2].did, postNSID, string(syntax.NewTID(int64(n)+1, 0))),
		CID: recordCID(rec),
	}
}

// genAll draws n records of every kind from one seeded generator, in a
// fixed order, for the validation and determinism tests.
func genAll(seed int64, n int) (recs []map[string]any, collections []string, blobs []blobData) {
	g := newGen(seed)
	now := datetime(testTime)
	add := func(c string, r map[string]any, b []blobData) {
		recs, collections, blobs = append(recs, r), append(collections, c), append(blobs, b...)
	}
	for i := range n {
		lang := g.language()
		spec := postSpec{lang: lang, mentions: testPeople, createdAt: now}
		switch i % 3 {
		case 1:
			spec.reply = &[2]strongRef{testRef(i), testRef(i + 1)}
		case 2:
			q := testRef(i)
			spec.quote = &q
		}
		r, b := g.post(spec)
		add(postNSID, r, b)
		add(likeNSID, g.like(testRef(i), now), nil)
		add(repostNSID, g.repost(testRef(i), now), nil)
		add(followNSID, g.follow(testPeople[i%2].did, now), nil)
		r, b = g.profile(lang, now)
		add(profileNSID, r, b)
	}
	return recs, collections, blobs
}

// TestGeneratedRecordsValidate checks every generated record against the
// lexicon, and that the generator really produces every variant the
// driver claims to: all embed types, all facet kinds, every language,
// replies, avatars.
func TestGeneratedRecordsValidate(t *testing.T) {
	t.Parallel()
	cat := lexicon.Default()
	recs, collections, _ := genAll(1, 300)
	seen := map[string]int{}
	for i, rec := range recs {
		if err := cat.ValidateRecord(collections[i], rec); err != nil {
			t.Fatalf("record %d (%s) does not validate: %v\n%#v", i, collections[i], err, rec)
		}
		if _, err := syntax.ParseDatetime(rec["createdAt"].(string)); err != nil {
			t.Fatalf("record %d createdAt: %v", i, err)
		}
		seen[collections[i]]++
		if e, ok := rec["embed"].(map[string]any); ok {
			seen[e["$type"].(string)]++
		}
		if _, ok := rec["reply"]; ok {
			seen["reply"]++
		}
		if _, ok := rec["avatar"]; ok {
			seen["avatar"]++
		}
		if langs, ok := rec["langs"].([]any); ok {
			for _, l := range langs {
				seen["lang:"+l.(string)]++
			}
			if len(langs) > 1 {
				seen["multilingual"]++
			}
		}
		if fs, ok := rec["facets"].([]any); ok {
			for _, f := range fs {
				seen[f.(map[string]any)["features"].([]any)[0].(map[string]any)["$type"].(string)]++
			}
		}
	}
	for _, k := range []string{
		postNSID, likeNSID, repostNSID, followNSID, profileNSID, "reply", "avatar", "multilingual",
		"app.bsky.embed.images", "app.bsky.embed.external", "app.bsky.embed.record", "app.bsky.embed.recordWithMedia",
		mentionType, linkType, tagType,
	} {
		if seen[k] == 0 {
			t.Errorf("no generated record has %s", k)
		}
	}
	for _, l := range languages {
		if seen["lang:"+l.code] == 0 {
			t.Errorf("no post in language %s", l.code)
		}
	}
}

// TestGeneratedFacetsMatchDetection: the generator computes facet offsets
// while composing text; DetectFacets, run on the finished text, must find
// exactly the same facets. The two are written independently, so this
// checks the byte offsets of both on every language and emoji in the
// corpus.
func TestGeneratedFacetsMatchDetection(t *testing.T) {
	t.Parallel()
	recs, collections, _ := genAll(2, 400)
	resolve := func(h string) (string, bool) {
		for _, p := range testPeople {
			if p.handle == h {
				return p.did, true
			}
		}
		return "", false
	}
	withFacets := 0
	for i, rec := range recs {
		if collections[i] != postNSID {
			continue
		}
		text := rec["text"].(string)
		if utf8.RuneCountInString(text) > 300 || len(text) > 3000 {
			t.Fatalf("post text too long (%d runes): %q", utf8.RuneCountInString(text), text)
		}
		detected := DetectFacets(text)
		checkFacetInvariants(t, text, detected)
		got := FacetsValue(detected, resolve)
		want, _ := rec["facets"].([]any)
		if len(want) == 0 && len(got) == 0 {
			continue
		}
		withFacets++
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("text %q:\ndetected  %#v\ngenerated %#v", text, got, want)
		}
	}
	if withFacets < 50 {
		t.Fatalf("only %d of the posts have facets", withFacets)
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	t.Parallel()
	a, _, _ := genAll(7, 40)
	b, _, _ := genAll(7, 40)
	c, _, _ := genAll(8, 40)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different records")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same records")
	}
}

// TestGeneratedImages decodes every generated blob: it must be a real image
// of its declared type, and image embeds must give its true aspect ratio.
func TestGeneratedImages(t *testing.T) {
	t.Parallel()
	recs, collections, blobs := genAll(3, 200)
	byCID := map[cid.CID]blobData{}
	for _, b := range blobs {
		if b.cid != cid.Sum(cid.Raw, b.data) {
			t.Fatalf("blob CID %s does not match its bytes", b.cid)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(b.data))
		if err != nil {
			t.Fatalf("%s blob does not decode: %v", b.mime, err)
		}
		if "image/"+format != b.mime {
			t.Fatalf("blob declared %s decodes as %s", b.mime, format)
		}
		if cfg.Width < 1 || cfg.Height < 1 {
			t.Fatalf("blob is %dx%d", cfg.Width, cfg.Height)
		}
		byCID[b.cid] = b
	}
	checked := 0
	for i, rec := range recs {
		if collections[i] != postNSID {
			continue
		}
		e, _ := rec["embed"].(map[string]any)
		if e == nil || e["$type"] != "app.bsky.embed.images" {
			continue
		}
		for _, im := range e["images"].([]any) {
			im := im.(map[string]any)
			ref := im["image"].(map[string]any)
			b, ok := byCID[ref["ref"].(cid.CID)]
			if !ok {
				t.Fatalf("image %v has no blob", ref)
			}
			cfg, _, _ := image.DecodeConfig(bytes.NewReader(b.data))
			ar := im["aspectRatio"].(map[string]any)
			if ar["width"] != int64(cfg.Width) || ar["height"] != int64(cfg.Height) || ref["size"] != int64(len(b.data)) {
				t.Fatalf("image %v, aspect %v, but blob is %dx%d, %d bytes", ref, ar, cfg.Width, cfg.Height, len(b.data))
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no image embeds generated")
	}
}

func TestDatetimeFormat(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("x", 3*3600)
	got := datetime(time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, loc))
	if got != "2025-01-02T00:04:05.006Z" {
		t.Fatalf("datetime = %q", got)
	}
}

// BenchmarkGenerate measures content generation alone (no host): a post
// (with its share of image embeds, which dominate), a like, a follow and,
// now and then, a profile per iteration, each with its CID computed as the
// planner does.
func BenchmarkGenerate(b *testing.B) {
	g := newGen(1)
	now := datetime(testTime)
	lang := &languages[0]
	records := 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, _ := g.post(postSpec{lang: lang, mentions: testPeople, createdAt: now})
		recordCID(r)
		recordCID(g.like(testRef(1), now))
		recordCID(g.follow(testPeople[0].did, now))
		records += 3
		if i%20 == 0 {
			p, _ := g.profile(lang, now)
			recordCID(p)
			records++
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkGenerateText is the post text and facets alone.
func BenchmarkGenerateText(b *testing.B) {
	g := newGen(1)
	b.ReportAllocs()
	for b.Loop() {
		g.text(&languages[2], testPeople)
	}
}

func BenchmarkDetectFacets(b *testing.B) {
	text := "今日は雨 🎉 @quiet-river-1.test 新しいカフェ https://example.com/articles/42 #東京 #写真 ✨"
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		DetectFacets(text)
	}
}
