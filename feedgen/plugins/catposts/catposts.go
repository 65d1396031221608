// Package catposts is the example feed of docs/feeds.md: English posts about
// cats, top-level only, with a picture whose alt text is filled in.
package catposts

import (
	"strings"

	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

// Feed keeps cat pictures with alt text.
type Feed struct {
	// Blocked authors never appear.
	Blocked map[string]bool
}

// Name is the feed's record key.
func (Feed) Name() string { return "cats" }

// Match keeps an English top-level post that says "cat" (or has #cats) and
// carries at least one image described by alt text.
func (f Feed) Match(p *plugin.Post) plugin.Decision {
	if f.Blocked[p.Author] || p.IsReply() || !p.HasLang("en") {
		return plugin.Drop
	}
	if p.ImageCount == 0 || len(p.AltTexts) == 0 {
		return plugin.Drop
	}
	if p.HasTag("cats") || strings.Contains(strings.ToLower(p.Text), "cat") {
		return plugin.Keep
	}
	return plugin.Drop
}
