package lexicon

// NSIDs of the records and objects this package has Go types for.
const (
	NSIDFeedPost             = "app.bsky.feed.post"
	NSIDFeedLike             = "app.bsky.feed.like"
	NSIDFeedRepost           = "app.bsky.feed.repost"
	NSIDFeedGenerator        = "app.bsky.feed.generator"
	NSIDFeedThreadgate       = "app.bsky.feed.threadgate"
	NSIDGraphFollow          = "app.bsky.graph.follow"
	NSIDActorProfile         = "app.bsky.actor.profile"
	NSIDStrongRef            = "com.atproto.repo.strongRef"
	NSIDEmbedImages          = "app.bsky.embed.images"
	NSIDEmbedVideo           = "app.bsky.embed.video"
	NSIDEmbedExternal        = "app.bsky.embed.external"
	NSIDEmbedRecord          = "app.bsky.embed.record"
	NSIDEmbedRecordWithMedia = "app.bsky.embed.recordWithMedia"
	NSIDFacetMention         = "app.bsky.richtext.facet#mention"
	NSIDFacetLink            = "app.bsky.richtext.facet#link"
	NSIDFacetTag             = "app.bsky.richtext.facet#tag"
	NSIDSelfLabels           = "com.atproto.label.defs#selfLabels"
)

// Record types. Type holds the record's $type, which must equal its
// collection's NSID; DecodeRecord fills it, and a writer sets it to the
// NSID constant. Datetimes stay strings so that they re-encode unchanged.
//
// Optional fields keep the difference between absent and empty, which real
// records rely on (profiles often carry "displayName": ""): optional strings
// and booleans are pointers, and optional arrays are tagged omitzero, so a
// nil slice is left out but an empty one is written as [].

// FeedPost is an app.bsky.feed.post record.
type FeedPost struct {
	Type      string          `cbor:"$type" json:"$type"`
	Text      string          `cbor:"text" json:"text"`
	Entities  []PostEntity    `cbor:"entities,omitzero" json:"entities,omitzero"`
	Facets    []RichtextFacet `cbor:"facets,omitzero" json:"facets,omitzero"`
	Reply     *PostReplyRef   `cbor:"reply,omitempty" json:"reply,omitempty"`
	Embed     *PostEmbed      `cbor:"embed,omitempty" json:"embed,omitempty"`
	Langs     []string        `cbor:"langs,omitzero" json:"langs,omitzero"`
	Labels    *RecordLabels   `cbor:"labels,omitempty" json:"labels,omitempty"`
	Tags      []string        `cbor:"tags,omitzero" json:"tags,omitzero"`
	CreatedAt string          `cbor:"createdAt" json:"createdAt"`
}

// PostReplyRef names the thread root and the direct parent of a reply.
type PostReplyRef struct {
	Root   StrongRef `cbor:"root" json:"root"`
	Parent StrongRef `cbor:"parent" json:"parent"`
}

// PostEntity is the deprecated predecessor of facets, kept so that old posts
// decode and re-encode whole.
type PostEntity struct {
	Index PostTextSlice `cbor:"index" json:"index"`
	Type  string        `cbor:"type" json:"type"`
	Value string        `cbor:"value" json:"value"`
}

// PostTextSlice is a deprecated entity's range.
type PostTextSlice struct {
	Start int64 `cbor:"start" json:"start"`
	End   int64 `cbor:"end" json:"end"`
}

// FeedLike is an app.bsky.feed.like record.
type FeedLike struct {
	Type      string     `cbor:"$type" json:"$type"`
	Subject   StrongRef  `cbor:"subject" json:"subject"`
	CreatedAt string     `cbor:"createdAt" json:"createdAt"`
	Via       *StrongRef `cbor:"via,omitempty" json:"via,omitempty"`
}

// FeedRepost is an app.bsky.feed.repost record.
type FeedRepost struct {
	Type      string     `cbor:"$type" json:"$type"`
	Subject   StrongRef  `cbor:"subject" json:"subject"`
	CreatedAt string     `cbor:"createdAt" json:"createdAt"`
	Via       *StrongRef `cbor:"via,omitempty" json:"via,omitempty"`
}

// FeedGenerator is an app.bsky.feed.generator record, declaring a feed.
type FeedGenerator struct {
	Type                string          `cbor:"$type" json:"$type"`
	DID                 string          `cbor:"did" json:"did"`
	DisplayName         string          `cbor:"displayName" json:"displayName"`
	Description         *string         `cbor:"description,omitempty" json:"description,omitempty"`
	DescriptionFacets   []RichtextFacet `cbor:"descriptionFacets,omitzero" json:"descriptionFacets,omitzero"`
	Avatar              *Blob           `cbor:"avatar,omitempty" json:"avatar,omitempty"`
	AcceptsInteractions *bool           `cbor:"acceptsInteractions,omitempty" json:"acceptsInteractions,omitempty"`
	Labels              *RecordLabels   `cbor:"labels,omitempty" json:"labels,omitempty"`
	ContentMode         *string         `cbor:"contentMode,omitempty" json:"contentMode,omitempty"`
	CreatedAt           string          `cbor:"createdAt" json:"createdAt"`
}

// GraphFollow is an app.bsky.graph.follow record.
type GraphFollow struct {
	Type      string `cbor:"$type" json:"$type"`
	Subject   string `cbor:"subject" json:"subject"`
	CreatedAt string `cbor:"createdAt" json:"createdAt"`
}

// ActorProfile is an app.bsky.actor.profile record (record key "self").
type ActorProfile struct {
	Type                 string        `cbor:"$type" json:"$type"`
	DisplayName          *string       `cbor:"displayName,omitempty" json:"displayName,omitempty"`
	Description          *string       `cbor:"description,omitempty" json:"description,omitempty"`
	Avatar               *Blob         `cbor:"avatar,omitempty" json:"avatar,omitempty"`
	Banner               *Blob         `cbor:"banner,omitempty" json:"banner,omitempty"`
	Labels               *RecordLabels `cbor:"labels,omitempty" json:"labels,omitempty"`
	JoinedViaStarterPack *StrongRef    `cbor:"joinedViaStarterPack,omitempty" json:"joinedViaStarterPack,omitempty"`
	PinnedPost           *StrongRef    `cbor:"pinnedPost,omitempty" json:"pinnedPost,omitempty"`
	CreatedAt            *string       `cbor:"createdAt,omitempty" json:"createdAt,omitempty"`
}

// StrongRef is a com.atproto.repo.strongRef: an AT-URI and the CID of the
// record version meant. Type is set only when the data carried a $type.
type StrongRef struct {
	Type string `cbor:"$type,omitempty" json:"$type,omitempty"`
	URI  string `cbor:"uri" json:"uri"`
	CID  string `cbor:"cid" json:"cid"`
}

// RichtextFacet annotates a byte range of a post's text.
type RichtextFacet struct {
	Index    FacetByteSlice `cbor:"index" json:"index"`
	Features []FacetFeature `cbor:"features" json:"features"`
}

// FacetByteSlice is a range of the UTF-8 text: start inclusive, end
// exclusive, in bytes.
type FacetByteSlice struct {
	ByteStart int64 `cbor:"byteStart" json:"byteStart"`
	ByteEnd   int64 `cbor:"byteEnd" json:"byteEnd"`
}

// FacetMention is a facet feature mentioning an account.
type FacetMention struct {
	Type string `cbor:"$type,omitempty" json:"$type,omitempty"`
	DID  string `cbor:"did" json:"did"`
}

// FacetLink is a facet feature linking a URL.
type FacetLink struct {
	Type string `cbor:"$type,omitempty" json:"$type,omitempty"`
	URI  string `cbor:"uri" json:"uri"`
}

// FacetTag is a facet feature for a hashtag (without the '#').
type FacetTag struct {
	Type string `cbor:"$type,omitempty" json:"$type,omitempty"`
	Tag  string `cbor:"tag" json:"tag"`
}

// EmbedImages is an app.bsky.embed.images embed: up to four images.
type EmbedImages struct {
	Type   string       `cbor:"$type,omitempty" json:"$type,omitempty"`
	Images []EmbedImage `cbor:"images" json:"images"`
}

// EmbedImage is one image of an images embed. Alt is required, even if
// empty.
type EmbedImage struct {
	Image       Blob         `cbor:"image" json:"image"`
	Alt         string       `cbor:"alt" json:"alt"`
	AspectRatio *AspectRatio `cbor:"aspectRatio,omitempty" json:"aspectRatio,omitempty"`
}

// AspectRatio is width:height, possibly approximate.
type AspectRatio struct {
	Width  int64 `cbor:"width" json:"width"`
	Height int64 `cbor:"height" json:"height"`
}

// EmbedExternal is an app.bsky.embed.external embed: a link card.
type EmbedExternal struct {
	Type     string            `cbor:"$type,omitempty" json:"$type,omitempty"`
	External EmbedExternalCard `cbor:"external" json:"external"`
}

// EmbedExternalCard is the card of an external embed.
type EmbedExternalCard struct {
	URI         string `cbor:"uri" json:"uri"`
	Title       string `cbor:"title" json:"title"`
	Description string `cbor:"description" json:"description"`
	Thumb       *Blob  `cbor:"thumb,omitempty" json:"thumb,omitempty"`
}

// EmbedRecord is an app.bsky.embed.record embed: a quoted record.
type EmbedRecord struct {
	Type   string    `cbor:"$type,omitempty" json:"$type,omitempty"`
	Record StrongRef `cbor:"record" json:"record"`
}

// EmbedRecordWithMedia is an app.bsky.embed.recordWithMedia embed: a quoted
// record alongside images, a video or a link card.
type EmbedRecordWithMedia struct {
	Type   string      `cbor:"$type,omitempty" json:"$type,omitempty"`
	Record EmbedRecord `cbor:"record" json:"record"`
	Media  EmbedMedia  `cbor:"media" json:"media"`
}

// EmbedVideo is an app.bsky.embed.video embed.
type EmbedVideo struct {
	Type        string         `cbor:"$type,omitempty" json:"$type,omitempty"`
	Video       Blob           `cbor:"video" json:"video"`
	Captions    []VideoCaption `cbor:"captions,omitzero" json:"captions,omitzero"`
	Alt         *string        `cbor:"alt,omitempty" json:"alt,omitempty"`
	AspectRatio *AspectRatio   `cbor:"aspectRatio,omitempty" json:"aspectRatio,omitempty"`
}

// VideoCaption is a caption track of a video embed.
type VideoCaption struct {
	Lang string `cbor:"lang" json:"lang"`
	File Blob   `cbor:"file" json:"file"`
}

// SelfLabels are labels an author puts on their own record.
type SelfLabels struct {
	Type   string      `cbor:"$type,omitempty" json:"$type,omitempty"`
	Values []SelfLabel `cbor:"values" json:"values"`
}

// SelfLabel is one self-applied label value.
type SelfLabel struct {
	Val string `cbor:"val" json:"val"`
}

// PostEmbed is the embed union of a post: exactly one field is set.
type PostEmbed struct {
	Images          *EmbedImages
	Video           *EmbedVideo
	External        *EmbedExternal
	Record          *EmbedRecord
	RecordWithMedia *EmbedRecordWithMedia
	Unknown         *UnknownVariant
}

func (e PostEmbed) encode(isJSON bool) ([]byte, error) {
	switch {
	case e.Images != nil:
		v := *e.Images
		v.Type = NSIDEmbedImages
		return encodeVariant(&v, isJSON)
	case e.Video != nil:
		v := *e.Video
		v.Type = NSIDEmbedVideo
		return encodeVariant(&v, isJSON)
	case e.External != nil:
		v := *e.External
		v.Type = NSIDEmbedExternal
		return encodeVariant(&v, isJSON)
	case e.Record != nil:
		v := *e.Record
		v.Type = NSIDEmbedRecord
		return encodeVariant(&v, isJSON)
	case e.RecordWithMedia != nil:
		v := *e.RecordWithMedia
		v.Type = NSIDEmbedRecordWithMedia
		return encodeVariant(&v, isJSON)
	case e.Unknown != nil:
		return e.Unknown.encode(isJSON)
	}
	return nil, errEmptyUnion
}

func (e *PostEmbed) decode(b []byte, isJSON bool) error {
	typ, err := unionType(b, isJSON)
	if err != nil {
		return err
	}
	*e = PostEmbed{}
	switch typ {
	case NSIDEmbedImages:
		e.Images, err = decodeVariant[EmbedImages](b, isJSON)
	case NSIDEmbedVideo:
		e.Video, err = decodeVariant[EmbedVideo](b, isJSON)
	case NSIDEmbedExternal:
		e.External, err = decodeVariant[EmbedExternal](b, isJSON)
	case NSIDEmbedRecord:
		e.Record, err = decodeVariant[EmbedRecord](b, isJSON)
	case NSIDEmbedRecordWithMedia:
		e.RecordWithMedia, err = decodeVariant[EmbedRecordWithMedia](b, isJSON)
	default:
		e.Unknown = unknownVariant(typ, b, isJSON)
	}
	return err
}

// MarshalCBOR implements cbor.Marshaler, writing the member's $type.
func (e PostEmbed) MarshalCBOR() ([]byte, error) { return e.encode(false) }

// UnmarshalCBOR implements cbor.Unmarshaler, choosing the member by $type.
func (e *PostEmbed) UnmarshalCBOR(b []byte) error { return e.decode(b, false) }

// MarshalJSON implements json.Marshaler, writing the member's $type.
func (e PostEmbed) MarshalJSON() ([]byte, error) { return e.encode(true) }

// UnmarshalJSON implements json.Unmarshaler, choosing the member by $type.
func (e *PostEmbed) UnmarshalJSON(b []byte) error { return e.decode(b, true) }

// EmbedMedia is the media union of a recordWithMedia embed.
type EmbedMedia struct {
	Images   *EmbedImages
	Video    *EmbedVideo
	External *EmbedExternal
	Unknown  *UnknownVariant
}

func (e EmbedMedia) encode(isJSON bool) ([]byte, error) {
	switch {
	case e.Images != nil:
		return PostEmbed{Images: e.Images}.encode(isJSON)
	case e.Video != nil:
		return PostEmbed{Video: e.Video}.encode(isJSON)
	case e.External != nil:
		return PostEmbed{External: e.External}.encode(isJSON)
	case e.Unknown != nil:
		return e.Unknown.encode(isJSON)
	}
	return nil, errEmptyUnion
}

func (e *EmbedMedia) decode(b []byte, isJSON bool) error {
	var p PostEmbed
	if err := p.decode(b, isJSON); err != nil {
		return err
	}
	*e = EmbedMedia{Images: p.Images, Video: p.Video, External: p.External, Unknown: p.Unknown}
	// A record or recordWithMedia is not media; keep it as unknown.
	if p.Record != nil || p.RecordWithMedia != nil {
		typ, _ := unionType(b, isJSON)
		e.Unknown = unknownVariant(typ, b, isJSON)
	}
	return nil
}

// MarshalCBOR implements cbor.Marshaler.
func (e EmbedMedia) MarshalCBOR() ([]byte, error) { return e.encode(false) }

// UnmarshalCBOR implements cbor.Unmarshaler.
func (e *EmbedMedia) UnmarshalCBOR(b []byte) error { return e.decode(b, false) }

// MarshalJSON implements json.Marshaler.
func (e EmbedMedia) MarshalJSON() ([]byte, error) { return e.encode(true) }

// UnmarshalJSON implements json.Unmarshaler.
func (e *EmbedMedia) UnmarshalJSON(b []byte) error { return e.decode(b, true) }

// FacetFeature is the feature union of a facet.
type FacetFeature struct {
	Mention *FacetMention
	Link    *FacetLink
	Tag     *FacetTag
	Unknown *UnknownVariant
}

func (f FacetFeature) encode(isJSON bool) ([]byte, error) {
	switch {
	case f.Mention != nil:
		v := *f.Mention
		v.Type = NSIDFacetMention
		return encodeVariant(&v, isJSON)
	case f.Link != nil:
		v := *f.Link
		v.Type = NSIDFacetLink
		return encodeVariant(&v, isJSON)
	case f.Tag != nil:
		v := *f.Tag
		v.Type = NSIDFacetTag
		return encodeVariant(&v, isJSON)
	case f.Unknown != nil:
		return f.Unknown.encode(isJSON)
	}
	return nil, errEmptyUnion
}

func (f *FacetFeature) decode(b []byte, isJSON bool) error {
	typ, err := unionType(b, isJSON)
	if err != nil {
		return err
	}
	*f = FacetFeature{}
	switch typ {
	case NSIDFacetMention:
		f.Mention, err = decodeVariant[FacetMention](b, isJSON)
	case NSIDFacetLink:
		f.Link, err = decodeVariant[FacetLink](b, isJSON)
	case NSIDFacetTag:
		f.Tag, err = decodeVariant[FacetTag](b, isJSON)
	default:
		f.Unknown = unknownVariant(typ, b, isJSON)
	}
	return err
}

// MarshalCBOR implements cbor.Marshaler.
func (f FacetFeature) MarshalCBOR() ([]byte, error) { return f.encode(false) }

// UnmarshalCBOR implements cbor.Unmarshaler.
func (f *FacetFeature) UnmarshalCBOR(b []byte) error { return f.decode(b, false) }

// MarshalJSON implements json.Marshaler.
func (f FacetFeature) MarshalJSON() ([]byte, error) { return f.encode(true) }

// UnmarshalJSON implements json.Unmarshaler.
func (f *FacetFeature) UnmarshalJSON(b []byte) error { return f.decode(b, true) }

// RecordLabels is the labels union of posts, profiles and feed generators;
// self-labels are its one known member.
type RecordLabels struct {
	SelfLabels *SelfLabels
	Unknown    *UnknownVariant
}

func (l RecordLabels) encode(isJSON bool) ([]byte, error) {
	switch {
	case l.SelfLabels != nil:
		v := *l.SelfLabels
		v.Type = NSIDSelfLabels
		return encodeVariant(&v, isJSON)
	case l.Unknown != nil:
		return l.Unknown.encode(isJSON)
	}
	return nil, errEmptyUnion
}

func (l *RecordLabels) decode(b []byte, isJSON bool) error {
	typ, err := unionType(b, isJSON)
	if err != nil {
		return err
	}
	*l = RecordLabels{}
	if typ == NSIDSelfLabels {
		l.SelfLabels, err = decodeVariant[SelfLabels](b, isJSON)
		return err
	}
	l.Unknown = unknownVariant(typ, b, isJSON)
	return nil
}

// MarshalCBOR implements cbor.Marshaler.
func (l RecordLabels) MarshalCBOR() ([]byte, error) { return l.encode(false) }

// UnmarshalCBOR implements cbor.Unmarshaler.
func (l *RecordLabels) UnmarshalCBOR(b []byte) error { return l.decode(b, false) }

// MarshalJSON implements json.Marshaler.
func (l RecordLabels) MarshalJSON() ([]byte, error) { return l.encode(true) }

// UnmarshalJSON implements json.Unmarshaler.
func (l *RecordLabels) UnmarshalJSON(b []byte) error { return l.decode(b, true) }
