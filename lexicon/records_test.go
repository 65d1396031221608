package lexicon

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

const feedPostVector = "../../shared/testdata/indigo/feedpost_record.cbor"

func TestFeedPostVectorRoundTrip(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(feedPostVector)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRecord(NSIDFeedPost, data)
	if err != nil {
		t.Fatalf("DecodeRecord: %v", err)
	}
	post, ok := got.(*FeedPost)
	if !ok {
		t.Fatalf("DecodeRecord returned %T", got)
	}
	if post.Type != NSIDFeedPost || post.Text != "Who the hell do you think you are" ||
		post.CreatedAt != "2023-03-29T20:59:19.417Z" {
		t.Fatalf("decoded %+v", post)
	}
	rwm := post.Embed.RecordWithMedia
	if rwm == nil || rwm.Media.Images == nil || len(rwm.Media.Images.Images) != 1 {
		t.Fatalf("embed %+v", post.Embed)
	}
	img := rwm.Media.Images.Images[0]
	if img.Alt != "" || img.Image.MimeType != "image/jpeg" || img.Image.Size != 751473 || !img.Image.Ref.Defined() {
		t.Fatalf("image %+v", img)
	}
	if rwm.Record.Record.URI != "at://did:plc:rbtury4cp2sdk4tvnedaqu54/app.bsky.feed.post/3jilislho4s2k" {
		t.Fatalf("quoted %+v", rwm.Record)
	}

	// CBOR: decode, re-encode, same bytes.
	again, err := dagcbor.Marshal(post)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("CBOR round trip differs:\n got %x\nwant %x", again, data)
	}

	// JSON: the struct's JSON is the record's JSON form, and reads back to
	// the same struct.
	js, err := json.Marshal(post)
	if err != nil {
		t.Fatal(err)
	}
	generic, err := dagcbor.FromJSON(js)
	if err != nil {
		t.Fatalf("struct JSON is not the data-model JSON form: %v\n%s", err, js)
	}
	if viaJSON, err := dagcbor.Marshal(generic); err != nil || !bytes.Equal(viaJSON, data) {
		t.Fatalf("JSON form differs from the record (%v):\n%s", err, js)
	}
	var back FeedPost
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if again, err := dagcbor.Marshal(&back); err != nil || !bytes.Equal(again, data) {
		t.Fatalf("JSON → struct → CBOR differs (%v)", err)
	}
}

// encodeJSONRecord turns a JSON-form record into its DAG-CBOR bytes.
func encodeJSONRecord(t *testing.T, s string) []byte {
	t.Helper()
	v, err := dagcbor.FromJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	b, err := dagcbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRecordTypes(t *testing.T) {
	t.Parallel()
	const ref = `{"uri":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c","cid":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}`
	cases := []struct {
		collection, json string
		check            func(t *testing.T, v any)
	}{
		{NSIDFeedPost, typicalPost, func(t *testing.T, v any) {
			p := v.(*FeedPost)
			if len(p.Facets) != 3 || p.Facets[0].Features[0].Mention == nil || p.Facets[1].Features[0].Link == nil ||
				p.Facets[2].Features[0].Tag == nil || p.Facets[2].Features[0].Tag.Tag != "atproto" {
				t.Errorf("facets %+v", p.Facets)
			}
			if p.Reply == nil || p.Reply.Parent.CID == "" || p.Embed.Images.Images[0].Alt != "a cat on a keyboard" ||
				p.Embed.Images.Images[0].AspectRatio.Width != 1200 || p.Labels.SelfLabels.Values[0].Val != "nudity" ||
				len(p.Langs) != 2 || p.Tags[0] != "conflux" {
				t.Errorf("post %+v", p)
			}
		}},
		{NSIDFeedLike, `{"$type":"app.bsky.feed.like","createdAt":"2024-01-01T00:00:00Z","subject":` + ref + `,"via":` + ref + `}`, func(t *testing.T, v any) {
			if l := v.(*FeedLike); l.Subject.CID == "" || l.Via == nil {
				t.Errorf("like %+v", l)
			}
		}},
		{NSIDFeedRepost, `{"$type":"app.bsky.feed.repost","createdAt":"2024-01-01T00:00:00Z","subject":` + ref + `}`, func(t *testing.T, v any) {
			if r := v.(*FeedRepost); r.Subject.URI == "" || r.Via != nil {
				t.Errorf("repost %+v", r)
			}
		}},
		{NSIDGraphFollow, `{"$type":"app.bsky.graph.follow","subject":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","createdAt":"2024-01-01T00:00:00Z"}`, func(t *testing.T, v any) {
			if f := v.(*GraphFollow); f.Subject != "did:plc:ewvi7nxzyoun6zhxrhs64oiz" {
				t.Errorf("follow %+v", f)
			}
		}},
		{NSIDActorProfile, `{"$type":"app.bsky.actor.profile","displayName":"Alice","avatar":{"cid":"bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa","mimeType":"image/png"},
			"labels":{"$type":"com.example.labels#future","x":1}}`, func(t *testing.T, v any) {
			p := v.(*ActorProfile)
			if p.DisplayName == nil || *p.DisplayName != "Alice" || p.Avatar == nil || !p.Avatar.IsLegacy() || p.Avatar.Size != -1 ||
				p.Labels == nil || p.Labels.Unknown == nil || p.Labels.Unknown.Type != "com.example.labels#future" {
				t.Errorf("profile %+v", p)
			}
		}},
		{NSIDFeedGenerator, `{"$type":"app.bsky.feed.generator","did":"did:web:feeds.example.com","displayName":"Cats","acceptsInteractions":false,"createdAt":"2024-01-01T00:00:00Z"}`, func(t *testing.T, v any) {
			if g := v.(*FeedGenerator); g.AcceptsInteractions == nil || *g.AcceptsInteractions {
				t.Errorf("generator %+v", g)
			}
		}},
		{NSIDFeedPost, `{"$type":"app.bsky.feed.post","text":"","langs":[],"facets":[],"tags":[],"createdAt":"2024-01-01T00:00:00Z"}`, func(t *testing.T, v any) {
			if p := v.(*FeedPost); p.Langs == nil || len(p.Langs) != 0 || p.Facets == nil {
				t.Errorf("empty arrays not kept: %+v", p)
			}
		}},
		{NSIDActorProfile, `{"$type":"app.bsky.actor.profile","displayName":"","description":""}`, func(t *testing.T, v any) {
			if p := v.(*ActorProfile); p.DisplayName == nil || *p.DisplayName != "" || p.Description == nil {
				t.Errorf("empty strings not kept: %+v", p)
			}
		}},
		{NSIDFeedThreadgate, `{"$type":"app.bsky.feed.threadgate","post":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c","createdAt":"2024-01-01T00:00:00Z"}`, func(t *testing.T, v any) {
			if m, ok := v.(map[string]any); !ok || m["post"] == nil {
				t.Errorf("threadgate %#v", v)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.collection, func(t *testing.T) {
			t.Parallel()
			data := encodeJSONRecord(t, tc.json)
			v, err := DecodeRecord(tc.collection, data)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, v)
			// Every typed record re-encodes to the bytes it came from.
			again, err := dagcbor.Marshal(v)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("round trip (%v):\n got %x\nwant %x", err, again, data)
			}
			// And its JSON is the record's JSON form.
			js, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if viaJSON := encodeJSONRecord(t, string(js)); !bytes.Equal(viaJSON, data) {
				t.Fatalf("JSON form differs:\n%s", js)
			}
		})
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	t.Parallel()
	bad := encodeJSONRecord(t, `{"$type":"app.bsky.feed.post","createdAt":"2024-01-01T00:00:00Z"}`)
	var ve *ValidationError
	if _, err := DecodeRecord(NSIDFeedPost, bad); !errors.As(err, &ve) || ve.Path != "record/text" {
		t.Errorf("post without text: %v", err)
	}
	if _, err := DecodeRecord(NSIDFeedPost, []byte{0xa1}); err == nil {
		t.Error("truncated CBOR accepted")
	}
	if _, err := DecodeRecord(NSIDFeedPost, []byte{0x01}); !errors.As(err, &ve) {
		t.Errorf("integer record: %v", err)
	}
	if _, err := DecodeRecord("com.example.nothing", encodeJSONRecord(t, `{"$type":"com.example.nothing"}`)); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("unknown collection: %v", err)
	}
}

func TestUnionsEncode(t *testing.T) {
	t.Parallel()
	// A union value writes its member's $type even if the caller left it out.
	post := FeedPost{Type: NSIDFeedPost, Text: "hi", CreatedAt: "2024-01-01T00:00:00Z",
		Embed: &PostEmbed{Record: &EmbedRecord{Record: StrongRef{URI: "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c",
			CID: "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}}},
		Facets: []RichtextFacet{{Index: FacetByteSlice{ByteStart: 0, ByteEnd: 2}, Features: []FacetFeature{{Tag: &FacetTag{Tag: "hi"}}}}},
	}
	b, err := dagcbor.Marshal(&post)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := dagcbor.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	if err := Default().ValidateRecord(NSIDFeedPost, generic); err != nil {
		t.Fatalf("encoded post does not validate: %v", err)
	}
	if got := get(generic, "embed", "$type"); got != NSIDEmbedRecord {
		t.Errorf("embed $type = %v", got)
	}
	if got := get(generic, "facets", 0, "features", 0, "$type"); got != NSIDFacetTag {
		t.Errorf("feature $type = %v", got)
	}
	if _, err := dagcbor.Marshal(&FeedPost{Embed: &PostEmbed{}}); err == nil {
		t.Error("empty union encoded")
	}
	if _, err := json.Marshal(Blob{MimeType: "image/png"}); err == nil {
		t.Error("blob without ref encoded")
	}

	// An unknown member survives JSON → struct → CBOR → struct → JSON.
	in := `{"$type":"com.example.embed.poll","options":["a","b"],"closes":{"$link":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}}`
	var e PostEmbed
	if err := json.Unmarshal([]byte(in), &e); err != nil || e.Unknown == nil || e.Unknown.Type != "com.example.embed.poll" {
		t.Fatalf("unknown member: %+v, %v", e, err)
	}
	cb, err := dagcbor.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var e2 PostEmbed
	if err := dagcbor.Unmarshal(cb, &e2); err != nil || e2.Unknown == nil {
		t.Fatalf("unknown member from CBOR: %+v, %v", e2, err)
	}
	js, err := json.Marshal(e2)
	if err != nil {
		t.Fatal(err)
	}
	if want := encodeJSONRecord(t, in); !bytes.Equal(encodeJSONRecord(t, string(js)), want) {
		t.Errorf("unknown member changed: %s", js)
	}
	if err := json.Unmarshal([]byte(`{"options":[]}`), &e); err == nil {
		t.Error("union member without $type decoded")
	}
}

func TestXRPCBodiesJSON(t *testing.T) {
	t.Parallel()
	const skeleton = `{"cursor":"c1","feed":[{"post":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c"},{"post":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2d","reason":{"$type":"app.bsky.feed.defs#skeletonReasonRepost","repost":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.repost/3l7pq5ohbzv2e"},"feedContext":"ctx"},{"post":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2f","reason":{"$type":"app.bsky.feed.defs#skeletonReasonPin"}}]}`
	var out FeedGetFeedSkeletonOutput
	if err := json.Unmarshal([]byte(skeleton), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Feed) != 3 || out.Feed[1].Reason.Repost == nil || out.Feed[2].Reason.Pin == nil {
		t.Fatalf("skeleton %+v", out)
	}
	js, err := json.Marshal(out)
	if err != nil || string(js) != skeleton {
		t.Fatalf("skeleton JSON (%v):\n%s", err, js)
	}
	generic, err := dagcbor.FromJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := Default().ValidateOutput("app.bsky.feed.getFeedSkeleton", generic); err != nil {
		t.Fatal(err)
	}

	const writes = `{"repo":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","writes":[{"$type":"com.atproto.repo.applyWrites#create","collection":"app.bsky.feed.post","value":{"text":"x"}},{"$type":"com.atproto.repo.applyWrites#delete","collection":"app.bsky.feed.post","rkey":"3l7pq5ohbzv2c"}]}`
	var in RepoApplyWritesInput
	if err := json.Unmarshal([]byte(writes), &in); err != nil {
		t.Fatal(err)
	}
	if in.Writes[0].Create == nil || in.Writes[1].Delete == nil || in.Writes[1].Delete.Rkey != "3l7pq5ohbzv2c" {
		t.Fatalf("writes %+v", in.Writes)
	}
	if js, err := json.Marshal(in); err != nil || string(js) != writes {
		t.Fatalf("applyWrites JSON (%v):\n%s", err, js)
	}
	if err := json.Unmarshal([]byte(`{"repo":"x","writes":[{"$type":"com.atproto.repo.applyWrites#upsert","collection":"a.b.c"}]}`), &in); err == nil {
		t.Error("unknown applyWrites operation decoded")
	}
}

// Keys differing only in case from a declared field are undeclared fields:
// validation ignores them, so decoding must ignore them too.
func TestDecodeRecordKeysAreCaseSensitive(t *testing.T) {
	t.Parallel()
	data := encodeJSONRecord(t, `{"$type":"app.bsky.feed.post","$TYpe":{},"text":"hi","TEXT":5,"Langs":["not validated"],
		"createdAt":"2024-01-01T00:00:00Z","embed":{"$type":"app.bsky.embed.images","Images":7,"images":[]}}`)
	v, err := DecodeRecord(NSIDFeedPost, data)
	if err != nil {
		t.Fatal(err)
	}
	p := v.(*FeedPost)
	if p.Text != "hi" || p.Langs != nil || p.Embed.Images == nil || len(p.Embed.Images.Images) != 0 {
		t.Fatalf("decoded %+v", p)
	}
}
