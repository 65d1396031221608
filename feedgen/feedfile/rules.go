package feedfile

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

// ErrInvalid is wrapped by every error about a feed file's content.
var ErrInvalid = errors.New("invalid feed file")

// MaxRegexes bounds the regex rules of one file: each runs on every post.
const MaxRegexes = 32

// rule is one node of a feed's rule tree.
type rule interface {
	match(p *plugin.Post) bool
	// describe is the one-line form used by Explain.
	describe() string
	children() []rule
	lineNo() int
}

type base struct{ line int }

func (b base) lineNo() int    { return b.line }
func (base) children() []rule { return nil }

type allRule struct {
	base
	rules []rule
}

func (r *allRule) match(p *plugin.Post) bool {
	for _, c := range r.rules {
		if !c.match(p) {
			return false
		}
	}
	return true
}
func (r *allRule) describe() string { return "all" }
func (r *allRule) children() []rule { return r.rules }

type anyRule struct {
	base
	rules []rule
}

func (r *anyRule) match(p *plugin.Post) bool {
	for _, c := range r.rules {
		if c.match(p) {
			return true
		}
	}
	return false
}
func (r *anyRule) describe() string { return "any" }
func (r *anyRule) children() []rule { return r.rules }

type notRule struct {
	base
	rule rule
}

func (r *notRule) match(p *plugin.Post) bool { return !r.rule.match(p) }
func (r *notRule) describe() string          { return "not" }
func (r *notRule) children() []rule          { return []rule{r.rule} }

// textRule is keyword or regex over some of text, alt texts and links.
type textRule struct {
	base
	name    string
	words   []string // lower-cased unless caseSensitive
	re      *regexp.Regexp
	in      []string
	caseSen bool
	invert  bool
}

func (r *textRule) hit(s string) bool {
	if r.re != nil {
		return r.re.MatchString(s)
	}
	if !r.caseSen {
		s = strings.ToLower(s)
	}
	for _, w := range r.words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func (r *textRule) match(p *plugin.Post) bool {
	found := false
	for _, field := range r.in {
		switch field {
		case "text":
			found = r.hit(p.Text)
		case "alt":
			found = slices.ContainsFunc(p.AltTexts, r.hit)
		case "links":
			found = slices.ContainsFunc(p.Links, r.hit)
		}
		if found {
			break
		}
	}
	return found != r.invert
}

func (r *textRule) describe() string {
	what := fmt.Sprintf("%q", r.words)
	if r.re != nil {
		what = "/" + r.re.String() + "/"
	}
	inv := ""
	if r.invert {
		inv = " (inverted)"
	}
	return fmt.Sprintf("%s %s in %v%s", r.name, what, r.in, inv)
}

// predRule is any rule that is a plain predicate on the post.
type predRule struct {
	base
	desc string
	fn   func(p *plugin.Post) bool
}

func (r *predRule) match(p *plugin.Post) bool { return r.fn(p) }
func (r *predRule) describe() string          { return r.desc }
