package feedfile

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

// synth builds a synthetic stream with known content.
func synth(n int) []*plugin.Post {
	rng := rand.New(rand.NewPCG(7, 7))
	words := []string{"Golang rocks", "rust is fine", "cats and dogs", "GOPHER day", "nothing here"}
	authors := []string{"did:plc:aaa", "did:plc:bbb", "did:plc:ccc"}
	var out []*plugin.Post
	for i := range n {
		p := &plugin.Post{
			URI:    fmt.Sprintf("at://%s/app.bsky.feed.post/%d", authors[i%3], i),
			Author: authors[rng.IntN(3)],
			Text:   words[rng.IntN(len(words))],
			Langs:  [][]string{nil, {"en"}, {"fr"}, {"en-GB", "de"}}[rng.IntN(4)],
			Tags:   [][]string{nil, {"Go"}, {"art"}}[rng.IntN(3)],
		}
		if rng.IntN(3) == 0 {
			p.Mentions = []string{authors[rng.IntN(3)]}
		}
		if rng.IntN(4) == 0 {
			p.Links = []string{"https://go.dev/blog"}
		}
		switch rng.IntN(4) {
		case 0:
			p.Embed, p.ImageCount = plugin.EmbedImages, 1+rng.IntN(4)
			if rng.IntN(2) == 0 {
				p.AltTexts = []string{"a gopher drawing"}
			}
		case 1:
			p.Embed = plugin.EmbedExternal
		}
		if rng.IntN(3) == 0 {
			p.ReplyParent, p.ReplyRoot = "at://x/app.bsky.feed.post/1", "at://x/app.bsky.feed.post/1"
		}
		out = append(out, p)
	}
	return out
}

// TestBuiltinFiltersMatchReference checks each built-in filter against a
// plain reference predicate over a synthetic stream.
func TestBuiltinFiltersMatchReference(t *testing.T) {
	t.Parallel()
	lower := strings.ToLower
	cases := []struct {
		rule string
		ref  func(p *plugin.Post) bool
	}{
		{`{"keyword": {"words": ["golang", "gopher"]}}`, func(p *plugin.Post) bool {
			return strings.Contains(lower(p.Text), "golang") || strings.Contains(lower(p.Text), "gopher")
		}},
		{`{"keyword": {"words": ["Golang"], "case": true}}`, func(p *plugin.Post) bool { return strings.Contains(p.Text, "Golang") }},
		{`{"keyword": {"words": ["GOPHER"], "case": true}}`, func(p *plugin.Post) bool { return strings.Contains(p.Text, "GOPHER") }},
		{`{"keyword": {"words": ["gopher"], "in": ["alt"]}}`, func(p *plugin.Post) bool { return len(p.AltTexts) > 0 }},
		{`{"keyword": {"words": ["go.dev"], "in": ["links"], "invert": true}}`, func(p *plugin.Post) bool { return len(p.Links) == 0 }},
		{`{"regex": {"pattern": "^(rust|cats)\\b"}}`, func(p *plugin.Post) bool {
			return strings.HasPrefix(p.Text, "rust") || strings.HasPrefix(p.Text, "cats")
		}},
		{`{"regex": {"pattern": "gopher", "in": ["text", "alt"]}}`, func(p *plugin.Post) bool {
			return strings.Contains(lower(p.Text), "gopher") || len(p.AltTexts) > 0
		}},
		{`{"lang": ["en"]}`, func(p *plugin.Post) bool {
			return slices.ContainsFunc(p.Langs, func(l string) bool { return l == "en" || strings.HasPrefix(l, "en-") })
		}},
		{`{"hashtag": "go"}`, func(p *plugin.Post) bool { return slices.Contains(p.Tags, "Go") }},
		{`{"mention": ["did:plc:aaa"]}`, func(p *plugin.Post) bool { return slices.Contains(p.Mentions, "did:plc:aaa") }},
		{`{"authors": ["did:plc:aaa", "did:plc:bbb"]}`, func(p *plugin.Post) bool { return p.Author != "did:plc:ccc" }},
		{`{"excludeAuthors": ["did:plc:aaa"]}`, func(p *plugin.Post) bool { return p.Author != "did:plc:aaa" }},
		{`{"hasMedia": true}`, func(p *plugin.Post) bool { return p.ImageCount > 0 }},
		{`{"embed": ["external"]}`, func(p *plugin.Post) bool { return p.Embed == plugin.EmbedExternal }},
		{`{"reply": false}`, func(p *plugin.Post) bool { return p.ReplyParent == "" }},
		{`{"excludeReposts": true}`, func(*plugin.Post) bool { return true }},
		{`{"all": [{"lang": "fr"}, {"not": {"reply": true}}]}`, func(p *plugin.Post) bool {
			return slices.Contains(p.Langs, "fr") && p.ReplyParent == ""
		}},
		{`{"any": [{"hashtag": ["art"]}, {"hasMedia": true}]}`, func(p *plugin.Post) bool {
			return slices.Contains(p.Tags, "art") || p.ImageCount > 0
		}},
	}
	posts := synth(400)
	for _, c := range cases {
		fs, err := Parse([]byte(`{"feeds": [{"name": "f", "rule": ` + c.rule + `}]}`))
		if err != nil {
			t.Fatalf("%s: %v", c.rule, err)
		}
		kept, refKept := 0, 0
		for _, p := range posts {
			got, want := fs[0].Match(p).Keep, c.ref(p)
			if got != want {
				t.Errorf("%s on %+v: got %v want %v", c.rule, p, got, want)
				break
			}
			if got {
				kept++
			}
			if want {
				refKept++
			}
		}
		if (refKept == 0 || refKept == len(posts)) && !strings.Contains(c.rule, "excludeReposts") {
			t.Errorf("%s: reference keeps %d of %d, the case is weak", c.rule, refKept, len(posts))
		}
		_ = kept
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file string
		line int
		text string
	}{
		{"{\n\"feeds\": [\n{\"name\": \"a\",\n \"rule\": {\"bogus\": 1}}]}", 4, "unknown rule"},
		{"{\n\"feeds\": [{\"name\": \"a\", \"rule\":\n  {\"regex\": {\"pattern\": \"(\"}}}]}", 3, "regex"},
		{"{\n\"feeds\": [\n\n{\"name\": \"a\", \"rule\": {\"lang\": \"en\"}},\n{\"name\": \"a\", \"rule\": {\"lang\": \"en\"}}]}", 5, "duplicate"},
		{"{\"feeds\": [{\"name\": \"a\",\n\"rule\": {\"all\": [\n{\"popularity\": 5}]}}]}", 3, "feed field"},
		{"{\"feeds\": [{\"name\": \"a\", \"rule\": {\"reply\": true},\n\"popularity\": 5}]}", 2, "popularity wants an object"},
		{"{\"feeds\": [{\"name\": \"a\", \"rule\": {\"reply\": true}, \"popularity\": {\n\"gravity\": 9}}]}", 2, "0..5"},
		{"{\"feeds\": [{\"name\": \"a\", \"rule\": {\"reply\": true}, \"popularity\": {\n\"offsetHours\": 0}}]}", 2, "offsetHours"},
		{"{\"feeds\": [{\"name\": \"a\", \"rule\": {\"reply\": true}, \"popularity\": {\"reposts\": -1}}]}", 1, "weight"},
		{"{\"feeds\": [{\"name\": \"a\", \"rule\": {\"reply\": true}, \"popularity\": {\n\n\"minScore\": \"x\"}}]}", 3, "wants a number"},
		{"{\"feeds\": [{\"name\": \"a\", \"rule\": {\"reply\": true}, \"popularity\": {\"decay\": 1}}]}", 1, "unknown popularity field"},
		{"{\"feeds\": [{\"name\": \"a\",\n\"rule\": {\"all\": [\n{\"minLikes\": 5}]}}]}", 3, "feed field"},
		{"{\"feeds\": [\n{\"name\": \"a\", \"rule\": {\"authors\": [\"bob\"]}}]}", 2, "not a DID"},
		{"{\"feeds\": [\n{\"name\": \"a\"\n\"rule\": 1}]}", 3, "invalid character"},
		{"{\"feeds\": [{\"name\": \"a\",\n\"retention\": \"forever\", \"rule\": {\"reply\": true}}]}", 2, "retention"},
		{"{\"feeds\": []}", 1, "non-empty"},
		{"{\"feeds\": [{\"name\": \"a\",\n\"authorCap\": 0, \"rule\": {\"reply\": true}}]}", 2, "authorCap"},
		{"{\"feeds\": [{\"name\": \"a\", \"rule\":\n{\"authorCap\": 2}}]}", 2, "feed field"},
		{"{\"feeds\": [{\"name\": \"a\", \"rule\": {\"reply\": true}}]} x", 1, "trailing"},
		{"{\"feeds\": [{\"name\": \"a\", \"rule\": {\"reply\": true, \"lang\": \"en\"}}]}", 1, "exactly one key"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.file))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", c.file, err)
			continue
		}
		if want := fmt.Sprintf("line %d:", c.line); !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%q: %q, want %q... %q", c.file, err, want, c.text)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	fs, err := Parse([]byte("{\"feeds\": [{\"name\": \"a\", \"retention\": \"48h\", \"rule\":\n{\"all\": [\n{\"lang\": \"en\"},\n{\"not\": {\"reply\": true}}]}}]}"))
	if err != nil {
		t.Fatal(err)
	}
	if fs[0].Retention().Hours() != 48 || fs[0].AuthorCap() != 0 {
		t.Fatal("retention")
	}
	steps := fs[0].Explain(&plugin.Post{Langs: []string{"en"}, ReplyParent: "at://x"})
	want := []Step{{2, 0, "all", false}, {3, 1, `lang ["en"]`, true}, {4, 1, "not", false}, {4, 2, "reply=true", true}}
	if !slices.Equal(steps, want) {
		t.Fatalf("explain:\n got %+v\nwant %+v", steps, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"feeds": [{"name": "a", "rule": {"all": [{"lang": "en"}, {"not": {"reply": true}}]}}]}`))
	f.Add([]byte(`{"feeds": [{"name": "a", "rule": {"regex": {"pattern": "x+", "in": ["alt"]}}}]}`))
	f.Add([]byte(`{"feeds": [{"name": "a", "rule": {"keyword": {"words": "x", "invert": true}}}]}`))
	f.Add([]byte(strings.Repeat(`{"not":`, 100)))
	f.Add([]byte(`{"feeds": [{"name": "hot", "minLikes": 2, "authorCap": 3, "popularity": {"gravity": 1.5, "offsetHours": 1, "reposts": 2, "minScore": 0.01}, "rule": {"lang": "en"}}]}`))
	f.Add([]byte(`[1, 2, "x", null, true]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		for _, f := range fs {
			p := &plugin.Post{Text: string(data), Langs: []string{"en"}}
			if steps := f.Explain(p); len(steps) == 0 || steps[0].Result != f.Match(p).Keep {
				t.Fatal("explain root disagrees with Match")
			}
		}
	})
}

// tenRules is a realistic feed file of ten rules.
const tenRules = `{"feeds": [{"name": "bench", "rule": {"all": [
  {"not": {"reply": true}},
  {"lang": ["en", "de"]},
  {"excludeAuthors": ["did:plc:spam1", "did:plc:spam2"]},
  {"any": [
    {"keyword": {"words": ["golang", "gopher", "go.dev"], "in": ["text", "links"]}},
    {"regex": {"pattern": "\\bgo ?1\\.\\d+\\b"}},
    {"hashtag": ["go", "golang"]},
    {"all": [{"hasMedia": true}, {"keyword": {"words": ["gopher"], "in": ["alt"]}}]}
  ]}
]}}]}`

// BenchmarkFeedFile10Rules measures posts per second through a ten-rule
// feed file.
func BenchmarkFeedFile10Rules(b *testing.B) {
	fs, err := Parse([]byte(tenRules))
	if err != nil {
		b.Fatal(err)
	}
	posts := synth(1024)
	b.ReportAllocs()
	b.ResetTimer()
	kept := 0
	for i := 0; b.Loop(); i++ {
		if fs[0].Match(posts[i%len(posts)]).Keep {
			kept++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
}

// TestPopularityMatchesReference checks a popularity feed's score and
// threshold against the plain formula, and that the feed says it is
// ranked.
func TestPopularityMatchesReference(t *testing.T) {
	t.Parallel()
	fs, err := Parse([]byte(`{"feeds": [
		{"name": "hot", "popularity": {"minScore": 0.05}, "rule": {"reply": false}},
		{"name": "steep", "popularity": {"gravity": 2.5, "offsetHours": 1, "reposts": 3}, "rule": {"reply": false}},
		{"name": "new", "rule": {"reply": false}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	hot, steep, newest := fs[0], fs[1], fs[2]
	if plugin.RankingOf(hot) != plugin.RankScore || plugin.RankingOf(newest) != plugin.RankNewest || newest.Popularity() != nil {
		t.Fatal("ranking modes")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	below, above := 0, 0
	for range 500 {
		c := plugin.Counts{Likes: rng.Int64N(50), Reposts: rng.Int64N(10)}
		age := time.Duration(rng.Int64N(int64(72 * time.Hour)))
		h := age.Hours()
		ref := (float64(c.Likes) + float64(c.Reposts)) / math.Pow(h+2, 1.8)
		got, keep := hot.Score(0, c, age)
		if math.Abs(got-ref) > 1e-12*max(1, ref) || keep != (ref >= 0.05) {
			t.Fatalf("hot %+v at %v: %v %v, want %v", c, age, got, keep, ref)
		}
		if keep {
			above++
		} else {
			below++
		}
		ref = (float64(c.Likes) + 3*float64(c.Reposts)) / math.Pow(h+1, 2.5)
		if got, keep := steep.Score(0, c, age); math.Abs(got-ref) > 1e-12*max(1, ref) || !keep {
			t.Fatalf("steep %+v at %v: %v, want %v", c, age, got, ref)
		}
	}
	if below == 0 || above == 0 {
		t.Fatalf("threshold case is weak: %d below, %d above", below, above)
	}
	if got, _ := hot.Score(0, plugin.Counts{Likes: 4}, -time.Hour); got != 4/math.Pow(2, 1.8) {
		t.Fatalf("negative age: %v", got)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	fs, err := Parse([]byte("{\"feeds\": [{\"name\": \"a\", \"rule\": {\"reply\": false},\n\"minLikes\": 3,\n\"popularity\": {\"minScore\": 0.5},\n\"authorCap\": 2}]}"))
	if err != nil {
		t.Fatal(err)
	}
	st := fs[0].Settings()
	if len(st) != 3 || st[0].Line != 2 || !strings.HasPrefix(st[0].Text, "minLikes 3") ||
		st[1].Line != 3 || !strings.Contains(st[1].Text, "(likes + 1×reposts) / (hours + 2)^1.8") || !strings.Contains(st[1].Text, "at least 0.5") ||
		st[2].Line != 4 || !strings.HasPrefix(st[2].Text, "authorCap 2") {
		t.Fatalf("settings %+v", st)
	}
}
