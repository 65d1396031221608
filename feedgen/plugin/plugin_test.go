package plugin

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/lexicon"
)

type named string

func (n named) Name() string       { return string(n) }
func (named) Match(*Post) Decision { return Keep }
func (named) Ranking() Ranking     { return RankScore }

func TestRegistry(t *testing.T) {
	t.Parallel()
	var r Registry
	if err := r.Register(named("b")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(named("a")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(named("a")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, bad := range []string{"", "has space", "waytoolongname16", "..", "a/b"} {
		if err := r.Register(named(bad)); !errors.Is(err, ErrBadName) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	fs := r.Feeds()
	if len(fs) != 2 || fs[0].Name() != "a" || fs[1].Name() != "b" {
		t.Fatalf("feeds %v", fs)
	}
	if f, ok := r.Get("a"); !ok || RankingOf(f) != RankScore {
		t.Fatal("get a")
	}
	if _, ok := r.Get("zz"); ok {
		t.Fatal("get unknown")
	}
}

func TestGravity(t *testing.T) {
	t.Parallel()
	if g := Gravity(10, 0); math.Abs(g-10/math.Pow(2, 1.8)) > 1e-12 {
		t.Fatalf("gravity at 0: %v", g)
	}
	if Gravity(10, -time.Hour) != Gravity(10, 0) {
		t.Fatal("negative age not clamped")
	}
	if Gravity(10, 5*time.Hour) >= Gravity(10, time.Hour) {
		t.Fatal("no decay")
	}
}

func TestNewPost(t *testing.T) {
	t.Parallel()
	alt := "a video"
	rec := &lexicon.FeedPost{
		Text:  "hello #Go @bob https://x.example",
		Langs: []string{"en-US"},
		Tags:  []string{"extra"},
		Facets: []lexicon.RichtextFacet{{Features: []lexicon.FacetFeature{
			{Tag: &lexicon.FacetTag{Tag: "Go"}},
			{Mention: &lexicon.FacetMention{DID: "did:plc:bob"}},
			{Link: &lexicon.FacetLink{URI: "https://x.example"}},
		}}},
		Reply: &lexicon.PostReplyRef{
			Root:   lexicon.StrongRef{URI: "at://did:plc:r/app.bsky.feed.post/1"},
			Parent: lexicon.StrongRef{URI: "at://did:plc:p/app.bsky.feed.post/2"},
		},
		Embed: &lexicon.PostEmbed{RecordWithMedia: &lexicon.EmbedRecordWithMedia{
			Media: lexicon.EmbedMedia{Video: &lexicon.EmbedVideo{Alt: &alt}},
		}},
		CreatedAt: "2026-01-02T03:04:05.123Z",
	}
	now := time.Unix(1000, 0)
	p := NewPost("at://did:plc:a/app.bsky.feed.post/3", "bafy", "did:plc:a", "3", rec, now)
	if !p.HasTag("#go") || !p.HasTag("EXTRA") || p.HasTag("rust") {
		t.Errorf("tags %v", p.Tags)
	}
	if !p.HasLang("en") || !p.HasLang("en-us") || p.HasLang("e") || p.HasLang("fr") {
		t.Errorf("langs %v", p.Langs)
	}
	if !p.MentionsDID("did:plc:bob") || len(p.Links) != 1 {
		t.Errorf("mentions %v links %v", p.Mentions, p.Links)
	}
	if !p.IsReply() || p.ReplyRoot != rec.Reply.Root.URI {
		t.Errorf("reply %q %q", p.ReplyParent, p.ReplyRoot)
	}
	if p.Embed != EmbedRecordWithMedia || !p.HasMedia() || p.ImageCount != 0 || len(p.AltTexts) != 1 {
		t.Errorf("embed %q media %v alts %v", p.Embed, p.HasMedia(), p.AltTexts)
	}
	if p.CreatedAt.Year() != 2026 || !p.IndexedAt.Equal(now) {
		t.Errorf("times %v %v", p.CreatedAt, p.IndexedAt)
	}
	// Fill reuses the Post: nothing of the previous record survives.
	p.Fill(&lexicon.FeedPost{Text: "plain", CreatedAt: "garbage", Embed: &lexicon.PostEmbed{Images: &lexicon.EmbedImages{
		Images: []lexicon.EmbedImage{{Alt: "cat"}, {Alt: ""}},
	}}})
	if p.IsReply() || len(p.Tags) != 0 || len(p.Mentions) != 0 || !p.CreatedAt.IsZero() ||
		p.Embed != EmbedImages || p.ImageCount != 2 || len(p.AltTexts) != 1 {
		t.Errorf("refill: %+v", p)
	}
}

func TestDefaultScore(t *testing.T) {
	t.Parallel()
	age := 3 * time.Hour
	got, keep := DefaultScore(0.5, Counts{Likes: 4, Reposts: 2}, age)
	if !keep || got != Gravity(6.5, age) || got != 6.5/math.Pow(5, 1.8) {
		t.Fatalf("default score %v %v", got, keep)
	}
}
