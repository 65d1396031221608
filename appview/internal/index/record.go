package index

import (
	"encoding/binary"
	"fmt"

	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// Record is a stored record version in its pre-built form: the fields the
// index derives keys from and the views show, extracted once when the
// record was validated at index time, so that reads never decode or
// re-validate CBOR.
type Record struct {
	URI string
	CID cid.CID
	// CreatedAt is the record's createdAt ("" if a profile has none).
	CreatedAt string
	// Subject: a like's or repost's subject URI, a follow's subject DID.
	Subject string
	// Reply is set for a post that replies.
	Reply *Reply
	// Quote is the URI a post quotes (embed record or recordWithMedia).
	Quote string
	// Media and Video: a post's embed carries images or a video (directly
	// or as the media of a recordWithMedia); Video only for a video.
	Media, Video bool
	// JSON is a post's record in the data model's JSON form (views show it).
	JSON []byte
	// DisplayName and Description of a profile (nil when absent).
	DisplayName, Description *string
}

// Reply names a reply's thread root and direct parent.
type Reply struct {
	Root, Parent string
}

// storedVersion is the first byte of every stored record body; a body of
// another version is ErrCorrupt (see the format check in appview.New).
const storedVersion byte = 1

// maxCIDLen is the binary length of a CIDv1 with a sha2-256 digest.
const maxCIDLen = 36

// Flag bits of a stored record body.
const (
	flagReply byte = 1 << iota
	flagMedia
	flagVideo
	flagDisplayName
	flagDescription
)

// Prepare decodes and validates a record of collection (lexicon) and
// builds its stored form (URI and CID are filled in when it is applied).
// It is a pure function of its input, so the pipeline runs it on many
// goroutines ahead of the ordered apply. A record that fails returns the
// reason it is skipped.
//
// The record is decoded once, into the generic data model: the lexicon
// validates that, the view's JSON is rendered from it (unknown fields
// included), and the few fields the index needs are read from it — the
// validation has already checked their types.
func Prepare(collection string, data []byte) (*Record, SkipReason) {
	if !indexed[collection] {
		return nil, SkipUnknownCollection
	}
	if data == nil {
		return nil, SkipMissingBlock
	}
	var generic any
	if err := dagcbor.Unmarshal(data, &generic); err != nil {
		return nil, SkipInvalidRecord
	}
	m, ok := generic.(map[string]any)
	if !ok || lexicon.Default().ValidateRecord(collection, m) != nil {
		return nil, SkipInvalidRecord
	}
	rec := &Record{CreatedAt: str(m["createdAt"])}
	switch collection {
	case lexicon.NSIDFeedPost:
		if reply, ok := m["reply"].(map[string]any); ok {
			rec.Reply = &Reply{Root: refURI(reply["root"]), Parent: refURI(reply["parent"])}
		}
		if embed, ok := m["embed"].(map[string]any); ok {
			rec.Quote, rec.Media, rec.Video = embedFacts(embed)
		}
		var err error
		if rec.JSON, err = dagcbor.ToJSON(m); err != nil {
			return nil, SkipInvalidRecord
		}
	case lexicon.NSIDFeedLike, lexicon.NSIDFeedRepost:
		rec.Subject = refURI(m["subject"])
	case lexicon.NSIDGraphFollow:
		rec.Subject = str(m["subject"])
	case lexicon.NSIDActorProfile:
		rec.DisplayName, rec.Description = optStr(m["displayName"]), optStr(m["description"])
	}
	return rec, ""
}

// embedFacts reads a post embed: the quoted record's URI (record or
// recordWithMedia), and whether it carries images or a video, directly or
// as a recordWithMedia's media.
func embedFacts(embed map[string]any) (quote string, media, video bool) {
	switch str(embed["$type"]) {
	case lexicon.NSIDEmbedRecord:
		return refURI(embed["record"]), false, false
	case lexicon.NSIDEmbedRecordWithMedia:
		quote = ""
		if r, ok := embed["record"].(map[string]any); ok {
			quote = refURI(r["record"])
		}
		if m, ok := embed["media"].(map[string]any); ok {
			_, media, video = embedFacts(m)
		}
		return quote, media, video
	case lexicon.NSIDEmbedImages:
		return "", true, false
	case lexicon.NSIDEmbedVideo:
		return "", true, true
	}
	return "", false, false
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func optStr(v any) *string {
	if s, ok := v.(string); ok {
		return &s
	}
	return nil
}

// refURI is the uri of a com.atproto.repo.strongRef.
func refURI(v any) string {
	m, _ := v.(map[string]any)
	return str(m["uri"])
}

// encodeRecord is the 'r' value: len(cid) cid, then the body: version,
// flags, and eight uvarint-length-prefixed strings in a fixed order
// (createdAt, subject, reply root, reply parent, quote, displayName,
// description, JSON).
func encodeRecord(c cid.CID, r *Record) []byte {
	n := 1 + maxCIDLen + 2
	fields := r.fields()
	for _, f := range fields {
		n += binary.MaxVarintLen32 + len(f)
	}
	v := make([]byte, 1, n)
	v = c.AppendBytes(v)
	v[0] = byte(len(v) - 1)
	var flags byte
	if r.Reply != nil {
		flags |= flagReply
	}
	if r.Media {
		flags |= flagMedia
	}
	if r.Video {
		flags |= flagVideo
	}
	if r.DisplayName != nil {
		flags |= flagDisplayName
	}
	if r.Description != nil {
		flags |= flagDescription
	}
	v = append(v, storedVersion, flags)
	for _, f := range fields {
		v = binary.AppendUvarint(v, uint64(len(f)))
		v = append(v, f...)
	}
	return v
}

func (r *Record) fields() [8]string {
	f := [8]string{r.CreatedAt, r.Subject, "", "", r.Quote, "", "", string(r.JSON)}
	if r.Reply != nil {
		f[2], f[3] = r.Reply.Root, r.Reply.Parent
	}
	if r.DisplayName != nil {
		f[5] = *r.DisplayName
	}
	if r.Description != nil {
		f[6] = *r.Description
	}
	return f
}

// decodeRecord parses an 'r' value written by encodeRecord.
func decodeRecord(uri string, v []byte) (*Record, error) {
	bad := func(what string) error { return fmt.Errorf("%w: record %s: %s", ErrCorrupt, uri, what) }
	if len(v) < 1 || len(v) < 1+int(v[0])+2 {
		return nil, bad("short value")
	}
	n := int(v[0])
	c, err := cid.Parse(v[1 : 1+n])
	if err != nil {
		return nil, bad(err.Error())
	}
	v = v[1+n:]
	if v[0] != storedVersion {
		return nil, bad(fmt.Sprintf("format version %d", v[0]))
	}
	flags := v[1]
	v = v[2:]
	var f [8]string
	for i := range f {
		l, k := binary.Uvarint(v)
		if k <= 0 || l > uint64(len(v)-k) {
			return nil, bad("field length")
		}
		f[i] = string(v[k : k+int(l)])
		v = v[k+int(l):]
	}
	if len(v) != 0 {
		return nil, bad("trailing bytes")
	}
	r := &Record{URI: uri, CID: c, CreatedAt: f[0], Subject: f[1], Quote: f[4],
		Media: flags&flagMedia != 0, Video: flags&flagVideo != 0}
	if flags&flagReply != 0 {
		r.Reply = &Reply{Root: f[2], Parent: f[3]}
	}
	if flags&flagDisplayName != 0 {
		r.DisplayName = &f[5]
	}
	if flags&flagDescription != 0 {
		r.Description = &f[6]
	}
	if f[7] != "" {
		r.JSON = []byte(f[7])
	}
	return r, nil
}
