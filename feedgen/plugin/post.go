package plugin

import (
	"strings"
	"time"

	"github.com/conflux-atproto/conflux/lexicon"
)

// EmbedType names the kind of a post's embed.
type EmbedType string

// Embed types; EmbedNone for a post without embed.
const (
	EmbedNone            EmbedType = ""
	EmbedImages          EmbedType = "images"
	EmbedVideo           EmbedType = "video"
	EmbedExternal        EmbedType = "external"
	EmbedRecord          EmbedType = "record"
	EmbedRecordWithMedia EmbedType = "recordWithMedia"
	EmbedOther           EmbedType = "other"
)

// Post is a new post, flattened once for every feed so that a Match does
// no decoding. Slices may be shared between feeds: treat them as read-only.
type Post struct {
	URI    string // at://did/app.bsky.feed.post/rkey
	CID    string
	Author string // DID
	RKey   string

	Text     string
	Langs    []string
	Tags     []string // record tags and hashtag facets, without '#'
	Mentions []string // DIDs of mention facets
	Links    []string // link facets and the external card URI

	Embed      EmbedType
	ImageCount int
	AltTexts   []string // image and video alt texts, empty ones left out

	ReplyParent string // AT-URI, "" for a top-level post
	ReplyRoot   string

	// CreatedAt is the author's claim (zero if unparsable); it is untrusted,
	// so ordering uses IndexedAt, the relay's time of the event.
	CreatedAt time.Time
	IndexedAt time.Time

	hasVideo bool
}

// IsReply reports whether the post replies to another.
func (p *Post) IsReply() bool { return p.ReplyParent != "" }

// HasMedia reports whether the post carries images or a video, directly or
// beside a quote.
func (p *Post) HasMedia() bool { return p.ImageCount > 0 || p.hasVideo }

// HasTag reports whether the post has the hashtag, ignoring case and a
// leading '#'.
func (p *Post) HasTag(tag string) bool {
	tag = strings.TrimPrefix(tag, "#")
	for _, t := range p.Tags {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

// HasLang reports whether the post declares the language (a BCP-47 tag;
// "en" also matches "en-US").
func (p *Post) HasLang(lang string) bool {
	for _, l := range p.Langs {
		if strings.EqualFold(l, lang) || (len(l) > len(lang) && l[len(lang)] == '-' && strings.EqualFold(l[:len(lang)], lang)) {
			return true
		}
	}
	return false
}

// MentionsDID reports whether the post mentions did.
func (p *Post) MentionsDID(did string) bool {
	for _, m := range p.Mentions {
		if m == did {
			return true
		}
	}
	return false
}

// NewPost flattens a decoded post record. uri, cid, author and rkey name
// it; indexedAt is the stream's time of the event.
func NewPost(uri, cidStr, author, rkey string, rec *lexicon.FeedPost, indexedAt time.Time) *Post {
	p := &Post{URI: uri, CID: cidStr, Author: author, RKey: rkey, IndexedAt: indexedAt}
	p.Fill(rec)
	return p
}

// Fill sets the record-derived fields of p from rec.
func (p *Post) Fill(rec *lexicon.FeedPost) {
	p.Text, p.Langs = rec.Text, rec.Langs
	p.Tags = append(p.Tags[:0], rec.Tags...)
	p.Mentions, p.Links, p.AltTexts = p.Mentions[:0], p.Links[:0], p.AltTexts[:0]
	for _, f := range rec.Facets {
		for _, ft := range f.Features {
			switch {
			case ft.Tag != nil:
				p.Tags = append(p.Tags, ft.Tag.Tag)
			case ft.Mention != nil:
				p.Mentions = append(p.Mentions, ft.Mention.DID)
			case ft.Link != nil:
				p.Links = append(p.Links, ft.Link.URI)
			}
		}
	}
	p.ReplyParent, p.ReplyRoot = "", ""
	if rec.Reply != nil {
		p.ReplyParent, p.ReplyRoot = rec.Reply.Parent.URI, rec.Reply.Root.URI
	}
	p.CreatedAt = time.Time{}
	if t, err := time.Parse(time.RFC3339Nano, rec.CreatedAt); err == nil {
		p.CreatedAt = t
	}
	p.Embed, p.ImageCount, p.hasVideo = EmbedNone, 0, false
	if rec.Embed != nil {
		p.fillEmbed(rec.Embed)
	}
}

func (p *Post) fillEmbed(e *lexicon.PostEmbed) {
	switch {
	case e.Images != nil:
		p.Embed = EmbedImages
		p.addImages(e.Images)
	case e.Video != nil:
		p.Embed = EmbedVideo
		p.addVideo(e.Video)
	case e.External != nil:
		p.Embed = EmbedExternal
		p.Links = append(p.Links, e.External.External.URI)
	case e.Record != nil:
		p.Embed = EmbedRecord
	case e.RecordWithMedia != nil:
		p.Embed = EmbedRecordWithMedia
		m := e.RecordWithMedia.Media
		switch {
		case m.Images != nil:
			p.addImages(m.Images)
		case m.Video != nil:
			p.addVideo(m.Video)
		case m.External != nil:
			p.Links = append(p.Links, m.External.External.URI)
		}
	default:
		p.Embed = EmbedOther
	}
}

func (p *Post) addImages(im *lexicon.EmbedImages) {
	p.ImageCount += len(im.Images)
	for _, i := range im.Images {
		if i.Alt != "" {
			p.AltTexts = append(p.AltTexts, i.Alt)
		}
	}
}

func (p *Post) addVideo(v *lexicon.EmbedVideo) {
	p.hasVideo = true
	if v.Alt != nil && *v.Alt != "" {
		p.AltTexts = append(p.AltTexts, *v.Alt)
	}
}
