package synth

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Collections the driver writes.
const (
	postNSID    = "app.bsky.feed.post"
	likeNSID    = "app.bsky.feed.like"
	repostNSID  = "app.bsky.feed.repost"
	followNSID  = "app.bsky.graph.follow"
	profileNSID = "app.bsky.actor.profile"
	profileRKey = "self"
)

// maxLangs is the lexicon's limit on a post's langs.
const maxLangs = 3

// strongRef is a com.atproto.repo.strongRef: a record pinned by URI and CID.
type strongRef struct {
	URI string
	CID cid.CID
}

func (r strongRef) value() map[string]any {
	return map[string]any{"uri": r.URI, "cid": r.CID.String()}
}

// person is someone a post can mention.
type person struct {
	handle, did string
}

// blobData is a blob a record refers to; it is uploaded before the write.
type blobData struct {
	mime string
	data []byte
	cid  cid.CID
}

func (b blobData) value() map[string]any {
	return map[string]any{"$type": "blob", "ref": b.cid, "mimeType": b.mime, "size": int64(len(b.data))}
}

// gen draws record content from a seeded source. It is not safe for
// concurrent use: only the planner calls it.
type gen struct {
	rng *rand.Rand
	png png.Encoder
}

func newGen(seed int64) *gen {
	// The second PCG word only has to differ from the first; it is fixed so
	// that one seed names one stream.
	g := &gen{rng: rand.New(rand.NewPCG(uint64(seed), 0x73796e7468))}
	g.png = png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngBuffers{}}
	return g
}

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

func pick[T any](g *gen, s []T) T { return s[g.rng.IntN(len(s))] }

// datetime formats t the way the Bluesky app does: RFC 3339 in UTC with
// milliseconds and a Z.
func datetime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// postSpec is what the planner decides about a post before its content is
// drawn.
type postSpec struct {
	lang      *language
	mentions  []person // candidates for an @mention
	reply     *[2]strongRef
	quote     *strongRef
	createdAt string
}

// post builds an app.bsky.feed.post and the blobs it embeds.
func (g *gen) post(s postSpec) (map[string]any, []blobData) {
	text, facets, langs := g.text(s.lang, s.mentions)
	rec := map[string]any{
		"$type":     postNSID,
		"text":      text,
		"createdAt": s.createdAt,
		"langs":     langs,
	}
	if len(facets) > 0 {
		rec["facets"] = FacetsValue(facets, func(h string) (string, bool) {
			for _, p := range s.mentions {
				if p.handle == h {
					return p.did, true
				}
			}
			return "", false
		})
	}
	if s.reply != nil {
		rec["reply"] = map[string]any{"root": s.reply[0].value(), "parent": s.reply[1].value()}
	}
	var blobs []blobData
	switch {
	case s.quote != nil && g.chance(0.25):
		var media map[string]any
		media, blobs = g.imagesEmbed(s.lang)
		rec["embed"] = map[string]any{
			"$type":  "app.bsky.embed.recordWithMedia",
			"record": map[string]any{"record": s.quote.value()},
			"media":  media,
		}
	case s.quote != nil:
		rec["embed"] = map[string]any{"$type": "app.bsky.embed.record", "record": s.quote.value()}
	case g.chance(0.2):
		rec["embed"], blobs = g.imagesEmbed(s.lang)
	case g.chance(0.06):
		rec["embed"], blobs = g.externalEmbed(s.lang)
	}
	return rec, blobs
}

// text composes a post's text and its facets. Facet offsets are taken from
// the builder's length as each token is written, so they are UTF-8 byte
// offsets by construction.
func (g *gen) text(lang *language, mentions []person) (string, []Facet, []any) {
	var b strings.Builder
	var facets []Facet
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
	}
	add := func(kind FacetKind, token, value string) {
		sep()
		start := b.Len()
		b.WriteString(token)
		facets = append(facets, Facet{Kind: kind, ByteStart: start, ByteEnd: b.Len(), Value: value})
	}
	langs := []any{lang.code}
	var mention *person
	if len(mentions) > 0 && g.chance(0.25) {
		m := pick(g, mentions)
		mention = &m
	}
	if mention != nil && g.chance(0.5) { // "@bob ..." at the start, like a reply
		add(FacetMention, "@"+mention.handle, mention.handle)
		mention = nil
	}
	sep()
	b.WriteString(pick(g, lang.sentences))
	if g.chance(0.35) {
		second := lang
		if g.chance(0.3) {
			second = &languages[g.rng.IntN(len(languages))]
			if second.code != lang.code && len(langs) < maxLangs {
				langs = append(langs, second.code)
			}
		}
		sep()
		b.WriteString(pick(g, second.sentences))
	}
	if mention != nil {
		add(FacetMention, "@"+mention.handle, mention.handle)
	}
	if g.chance(0.2) {
		link := pick(g, linkHosts) + "/" + pick(g, linkPaths) + fmt.Sprintf("/%d", g.rng.IntN(10000))
		if g.chance(0.7) {
			link = "https://" + link
			add(FacetLink, link, link)
		} else {
			add(FacetLink, link, "https://"+link) // bare domain: the facet adds the scheme
		}
	}
	if g.chance(0.4) {
		for _, k := range g.rng.Perm(len(lang.tags))[:1+g.rng.IntN(3)] {
			add(FacetTag, "#"+lang.tags[k], lang.tags[k])
		}
	}
	if g.chance(0.3) {
		sep()
		b.WriteString(pick(g, emoji))
	}
	return b.String(), facets, langs
}

// imagesEmbed makes an app.bsky.embed.images with 1 to 4 images.
func (g *gen) imagesEmbed(lang *language) (map[string]any, []blobData) {
	n := 1 + g.rng.IntN(4)
	images := make([]any, n)
	blobs := make([]blobData, n)
	for i := range n {
		b, w, h := g.image(g.chance(0.5))
		alt := ""
		if g.chance(0.8) { // a fifth of real images have no alt text
			alt = pick(g, lang.alts)
		}
		blobs[i] = b
		images[i] = map[string]any{
			"image":       b.value(),
			"alt":         alt,
			"aspectRatio": map[string]any{"width": int64(w), "height": int64(h)},
		}
	}
	return map[string]any{"$type": "app.bsky.embed.images", "images": images}, blobs
}

// externalEmbed makes a link card, sometimes with a thumbnail.
func (g *gen) externalEmbed(lang *language) (map[string]any, []blobData) {
	c := pick(g, lang.cards)
	ext := map[string]any{
		"uri":         fmt.Sprintf("https://%s/%s/%d", pick(g, linkHosts), pick(g, linkPaths), g.rng.IntN(10000)),
		"title":       c.title,
		"description": c.description,
	}
	var blobs []blobData
	if g.chance(0.5) {
		b, _, _ := g.image(true)
		ext["thumb"] = b.value()
		blobs = append(blobs, b)
	}
	return map[string]any{"$type": "app.bsky.embed.external", "external": ext}, blobs
}

// imageSizes are small stand-ins for common aspect ratios (4:3, 3:4, 1:1,
// 16:9, 9:16). Images are kept tiny: encoding dominates generation time.
var imageSizes = [][2]int{{48, 36}, {36, 48}, {40, 40}, {64, 36}, {36, 64}}

// image draws a small picture (a colour gradient with noise) and encodes it
// as a PNG or, when photo is true, a JPEG. The bytes are a real image so a
// host or AppView that decodes blobs can.
func (g *gen) image(photo bool) (blobData, int, int) {
	sz := pick(g, imageSizes)
	w, h := sz[0], sz[1]
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r0, g0, b0 := g.rng.IntN(200), g.rng.IntN(200), g.rng.IntN(200)
	// Per-pixel noise from a xorshift seeded once per image: as
	// deterministic as the main source and far cheaper per draw.
	x32 := uint32(g.rng.Uint64()) | 1
	for y := range h {
		for x := range w {
			x32 ^= x32 << 13
			x32 ^= x32 >> 17
			x32 ^= x32 << 5
			n := int(x32 % 24)
			i := img.PixOffset(x, y)
			img.Pix[i+0] = uint8(r0 + x*48/w + n)
			img.Pix[i+1] = uint8(g0 + y*48/h + n)
			img.Pix[i+2] = uint8(b0 + n)
			img.Pix[i+3] = 255
		}
	}
	var buf bytes.Buffer
	mime := "image/png"
	var err error
	if photo {
		mime = "image/jpeg"
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 70})
	} else {
		err = g.png.Encode(&buf, img)
	}
	if err != nil {
		// Encoding an in-memory image into a bytes.Buffer cannot fail.
		panic(fmt.Sprintf("synth: encode %s: %v", mime, err))
	}
	data := buf.Bytes()
	return blobData{mime: mime, data: data, cid: cid.Sum(cid.Raw, data)}, w, h
}

// pngBuffers keeps the PNG encoder's buffers (and its zlib writer) from one
// image to the next; gen is single-threaded, so one slot is enough.
type pngBuffers struct{ b *png.EncoderBuffer }

func (p *pngBuffers) Get() *png.EncoderBuffer  { b := p.b; p.b = nil; return b }
func (p *pngBuffers) Put(b *png.EncoderBuffer) { p.b = b }

func (g *gen) like(subject strongRef, createdAt string) map[string]any {
	return map[string]any{"$type": likeNSID, "subject": subject.value(), "createdAt": createdAt}
}

func (g *gen) repost(subject strongRef, createdAt string) map[string]any {
	return map[string]any{"$type": repostNSID, "subject": subject.value(), "createdAt": createdAt}
}

func (g *gen) follow(did, createdAt string) map[string]any {
	return map[string]any{"$type": followNSID, "subject": did, "createdAt": createdAt}
}

// profile builds an app.bsky.actor.profile, sometimes with an avatar.
func (g *gen) profile(lang *language, createdAt string) (map[string]any, []blobData) {
	first, last := pick(g, lang.first), pick(g, lang.last)
	name := first + " " + last
	switch lang.code {
	case "ja":
		name = last + first // family name first, no space
	case "ko":
		name = last + first
	}
	rec := map[string]any{
		"$type":       profileNSID,
		"displayName": name,
		"description": pick(g, lang.bios),
		"createdAt":   createdAt,
	}
	var blobs []blobData
	if g.chance(0.6) {
		b, _, _ := g.image(g.chance(0.5))
		rec["avatar"] = b.value()
		blobs = append(blobs, b)
	}
	return rec, blobs
}

// Words for handles: "<adjective>-<noun>-<n>.<domain>".
var (
	handleAdjectives = []string{"quiet", "bright", "lucky", "brave", "sunny", "misty", "swift", "gentle", "clever", "wild"}
	handleNouns      = []string{"river", "falcon", "maple", "harbor", "comet", "otter", "meadow", "lantern", "pixel", "willow"}
)

// handle returns user i's handle. The index keeps handles unique; the words
// make them readable in logs and dashboards.
func (g *gen) handle(i int, domain string) string {
	return fmt.Sprintf("%s-%s-%d.%s", pick(g, handleAdjectives), pick(g, handleNouns), i, domain)
}
