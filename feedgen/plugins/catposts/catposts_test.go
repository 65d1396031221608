package catposts

import (
	"testing"

	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	base := func() *plugin.Post {
		return &plugin.Post{Author: "did:plc:a", Text: "my Cat", Langs: []string{"en"}, ImageCount: 1, AltTexts: []string{"a cat"}}
	}
	f := Feed{Blocked: map[string]bool{"did:plc:bad": true}}
	cases := []struct {
		name string
		edit func(*plugin.Post)
		keep bool
	}{
		{"kept", func(*plugin.Post) {}, true},
		{"hashtag only", func(p *plugin.Post) { p.Text, p.Tags = "look", []string{"Cats"} }, true},
		{"no cat", func(p *plugin.Post) { p.Text = "dog" }, false},
		{"reply", func(p *plugin.Post) { p.ReplyParent = "at://x" }, false},
		{"french", func(p *plugin.Post) { p.Langs = []string{"fr"} }, false},
		{"no image", func(p *plugin.Post) { p.ImageCount = 0 }, false},
		{"no alt", func(p *plugin.Post) { p.AltTexts = nil }, false},
		{"blocked", func(p *plugin.Post) { p.Author = "did:plc:bad" }, false},
	}
	for _, c := range cases {
		p := base()
		c.edit(p)
		if got := f.Match(p).Keep; got != c.keep {
			t.Errorf("%s: keep=%v", c.name, got)
		}
	}
}
