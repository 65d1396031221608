package feedfile

import (
	"fmt"
	"os"
	"time"

	"github.com/conflux-atproto/conflux/feedgen/plugin"
)

// MaxFileSize bounds a feed file.
const MaxFileSize = 1 << 20

// Feed is a feed defined by a file; it implements plugin.Feed and
// plugin.Retainer.
type Feed struct {
	name      string
	retention time.Duration
	authorCap int
	minLikes  int
	root      rule

	popularity *Popularity
	settings   []Setting
}

// MinLikes implements plugin.MinLiker (0: no minimum).
func (f *Feed) MinLikes() int { return f.minLikes }

// AuthorCap implements plugin.AuthorCapper (0: no cap).
func (f *Feed) AuthorCap() int { return f.authorCap }

// Name implements plugin.Feed.
func (f *Feed) Name() string { return f.name }

// Match implements plugin.Feed.
func (f *Feed) Match(p *plugin.Post) plugin.Decision {
	return plugin.Decision{Keep: f.root.match(p)}
}

// Retention implements plugin.Retainer (0: the generator's default).
func (f *Feed) Retention() time.Duration { return f.retention }

// Step is one rule's verdict in an explanation.
type Step struct {
	Line   int
	Depth  int
	Rule   string
	Result bool
}

// Explain evaluates every rule of the feed on p (without short-circuit) and
// returns each verdict in file order, so an author sees which rule kept or
// dropped the post. The first step is the root: the feed's decision.
func (f *Feed) Explain(p *plugin.Post) []Step {
	var out []Step
	var walk func(r rule, depth int)
	walk = func(r rule, depth int) {
		out = append(out, Step{Line: r.lineNo(), Depth: depth, Rule: r.describe(), Result: r.match(p)})
		for _, c := range r.children() {
			walk(c, depth+1)
		}
	}
	walk(f.root, 0)
	return out
}

// Load reads and validates a feed file.
func Load(path string) ([]*Feed, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("feed file: %w", err)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("feed file %s: %w: larger than %d bytes", path, ErrInvalid, MaxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("feed file: %w", err)
	}
	feeds, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return feeds, nil
}

// Parse validates a feed file's content.
func Parse(data []byte) ([]*Feed, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxFileSize)
	}
	root, err := parseTree(data)
	if err != nil {
		return nil, err
	}
	if root.kind != 'o' {
		return nil, root.errf("the file is an object with a \"feeds\" array")
	}
	for _, k := range root.keys {
		if k != "feeds" {
			return nil, root.obj[k].errf("unknown top-level key %q", k)
		}
	}
	list := root.obj["feeds"]
	if list == nil || list.kind != 'a' || len(list.arr) == 0 {
		return nil, root.errf("\"feeds\" must be a non-empty array")
	}
	var b builder
	var reg plugin.Registry
	out := make([]*Feed, 0, len(list.arr))
	for _, fv := range list.arr {
		f, err := b.feed(fv)
		if err != nil {
			return nil, err
		}
		if err := reg.Register(f); err != nil {
			return nil, fv.errf("%v", err)
		}
		out = append(out, f)
	}
	return out, nil
}

func (f *Feed) note(v *value, text string) {
	f.settings = append(f.settings, Setting{Line: v.line, Text: text})
}

func (b *builder) feed(v *value) (*Feed, error) {
	if v.kind != 'o' {
		return nil, v.errf("a feed is an object")
	}
	f := &Feed{}
	for _, k := range v.keys {
		fv := v.obj[k]
		switch k {
		case "name":
			if fv.kind != 's' {
				return nil, fv.errf("name wants a string")
			}
			f.name = fv.str
		case "retention":
			d, err := time.ParseDuration(fv.str)
			if fv.kind != 's' || err != nil || d <= 0 {
				return nil, fv.errf("retention wants a positive duration such as \"168h\"")
			}
			f.retention = d
			f.note(fv, fmt.Sprintf("retention %s: posts older than that leave the feed", d))
		case "popularity":
			p, err := parsePopularity(fv)
			if err != nil {
				return nil, err
			}
			f.popularity = p
			f.note(fv, p.describe())
		case "authorCap":
			if fv.kind != 'n' || fv.num < 1 || fv.num > 100 || fv.num != float64(int(fv.num)) {
				return nil, fv.errf("authorCap wants an integer in 1..100")
			}
			f.authorCap = int(fv.num)
			f.note(fv, fmt.Sprintf("authorCap %d: at most %d posts of one author per page", f.authorCap, f.authorCap))
		case "minLikes":
			if fv.kind != 'n' || fv.num < 1 || fv.num > 1e9 || fv.num != float64(int(fv.num)) {
				return nil, fv.errf("minLikes wants a positive integer")
			}
			f.minLikes = int(fv.num)
			f.note(fv, fmt.Sprintf("minLikes %d: served once it has at least %d likes (counted from the stream)", f.minLikes, f.minLikes))
		case "rule":
			r, err := b.rule(fv)
			if err != nil {
				return nil, err
			}
			f.root = r
		default:
			return nil, fv.errf("unknown feed field %q", k)
		}
	}
	if f.name == "" || f.root == nil {
		return nil, v.errf("a feed needs a name and a rule")
	}
	return f, nil
}
