package feedfile

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

var embedTypes = []plugin.EmbedType{plugin.EmbedNone, plugin.EmbedImages, plugin.EmbedVideo,
	plugin.EmbedExternal, plugin.EmbedRecord, plugin.EmbedRecordWithMedia}

type builder struct{ regexes int }

func (b *builder) rule(v *value) (rule, error) {
	if v.kind != 'o' || len(v.keys) != 1 {
		return nil, v.errf("a rule is an object with exactly one key")
	}
	key := v.keys[0]
	arg := v.obj[key]
	at := base{line: v.line}
	switch key {
	case "all", "any":
		if arg.kind != 'a' || len(arg.arr) == 0 {
			return nil, arg.errf("%s wants a non-empty array of rules", key)
		}
		rs := make([]rule, len(arg.arr))
		for i, e := range arg.arr {
			r, err := b.rule(e)
			if err != nil {
				return nil, err
			}
			rs[i] = r
		}
		if key == "all" {
			return &allRule{at, rs}, nil
		}
		return &anyRule{at, rs}, nil
	case "not":
		r, err := b.rule(arg)
		if err != nil {
			return nil, err
		}
		return &notRule{at, r}, nil
	case "keyword", "regex":
		return b.textRule(at, key, arg)
	case "lang", "hashtag", "mention", "authors", "excludeAuthors", "embed":
		return listRule(at, key, arg)
	case "hasMedia", "reply", "excludeReposts":
		if arg.kind != 'b' {
			return nil, arg.errf("%s wants true or false", key)
		}
		want := arg.b
		switch key {
		case "hasMedia":
			return &predRule{at, fmt.Sprintf("hasMedia=%v", want), func(p *plugin.Post) bool { return p.HasMedia() == want }}, nil
		case "reply":
			return &predRule{at, fmt.Sprintf("reply=%v", want), func(p *plugin.Post) bool { return p.IsReply() == want }}, nil
		}
		// Feeds index posts, never reposts: excluding them always holds,
		// and asking for reposts only can never match.
		return &predRule{at, fmt.Sprintf("excludeReposts=%v", want), func(*plugin.Post) bool { return want }}, nil
	case "authorCap", "minLikes", "popularity":
		return nil, v.errf("%s is a feed field (beside name and rule), not a rule", key)
	}
	return nil, v.errf("unknown rule %q", key)
}

func (b *builder) textRule(at base, key string, arg *value) (rule, error) {
	if arg.kind != 'o' {
		return nil, arg.errf("%s wants an object", key)
	}
	r := &textRule{base: at, name: key, in: []string{"text"}}
	var pattern string
	for _, k := range arg.keys {
		f := arg.obj[k]
		switch {
		case k == "words" && key == "keyword":
			ws, err := f.strings()
			if err != nil {
				return nil, err
			}
			r.words = ws
		case k == "pattern" && key == "regex":
			if f.kind != 's' || f.str == "" {
				return nil, f.errf("pattern wants a non-empty string")
			}
			pattern = f.str
		case k == "in":
			in, err := f.strings()
			if err != nil {
				return nil, err
			}
			for _, s := range in {
				if s != "text" && s != "alt" && s != "links" {
					return nil, f.errf("in: %q is not one of text, alt, links", s)
				}
			}
			r.in = in
		case k == "case" || k == "invert":
			if f.kind != 'b' {
				return nil, f.errf("%s wants true or false", k)
			}
			if k == "case" {
				r.caseSen = f.b
			} else {
				r.invert = f.b
			}
		default:
			return nil, f.errf("unknown %s field %q", key, k)
		}
	}
	if key == "keyword" {
		if len(r.words) == 0 {
			return nil, arg.errf("keyword needs words")
		}
		if !r.caseSen {
			for i, w := range r.words {
				r.words[i] = strings.ToLower(w)
			}
		}
		return r, nil
	}
	if pattern == "" {
		return nil, arg.errf("regex needs a pattern")
	}
	if b.regexes++; b.regexes > MaxRegexes {
		return nil, arg.errf("more than %d regex rules", MaxRegexes)
	}
	if !r.caseSen {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, arg.errf("regex: %v", err)
	}
	r.re = re
	return r, nil
}

func listRule(at base, key string, arg *value) (rule, error) {
	list, err := arg.strings()
	if err != nil {
		return nil, err
	}
	desc := fmt.Sprintf("%s %q", key, list)
	switch key {
	case "lang":
		return &predRule{at, desc, func(p *plugin.Post) bool { return slices.ContainsFunc(list, p.HasLang) }}, nil
	case "hashtag":
		return &predRule{at, desc, func(p *plugin.Post) bool { return slices.ContainsFunc(list, p.HasTag) }}, nil
	case "embed":
		for _, s := range list {
			if !slices.Contains(embedTypes, plugin.EmbedType(s)) || s == "" {
				return nil, arg.errf("embed: unknown type %q", s)
			}
		}
		return &predRule{at, desc, func(p *plugin.Post) bool { return slices.Contains(list, string(p.Embed)) }}, nil
	}
	set := make(map[string]bool, len(list))
	for _, s := range list {
		if _, err := syntax.ParseDID(s); err != nil {
			return nil, arg.errf("%s: %q is not a DID", key, s)
		}
		set[s] = true
	}
	switch key {
	case "mention":
		return &predRule{at, desc, func(p *plugin.Post) bool {
			return slices.ContainsFunc(p.Mentions, func(d string) bool { return set[d] })
		}}, nil
	case "authors":
		return &predRule{at, desc, func(p *plugin.Post) bool { return set[p.Author] }}, nil
	}
	return &predRule{at, desc, func(p *plugin.Post) bool { return !set[p.Author] }}, nil
}
