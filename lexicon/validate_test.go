package lexicon

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// A real-shaped post: reply, facets of all three kinds, an images embed with
// alt text and aspect ratio, languages, self-labels and tags.
const typicalPost = `{
  "$type": "app.bsky.feed.post",
  "text": "hey @alice.bsky.social look at https://example.com/a #atproto 🎉",
  "createdAt": "2024-11-05T12:34:56.789Z",
  "langs": ["en", "pt-BR"],
  "tags": ["conflux"],
  "reply": {
    "root": {"uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c",
             "cid": "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"},
    "parent": {"uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c",
               "cid": "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}
  },
  "facets": [
    {"index": {"byteStart": 4, "byteEnd": 22},
     "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"}]},
    {"index": {"byteStart": 31, "byteEnd": 52},
     "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a"}]},
    {"index": {"byteStart": 53, "byteEnd": 61},
     "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "atproto"}]}
  ],
  "embed": {
    "$type": "app.bsky.embed.images",
    "images": [{
      "alt": "a cat on a keyboard",
      "aspectRatio": {"width": 1200, "height": 800},
      "image": {"$type": "blob", "mimeType": "image/jpeg", "size": 352187,
                "ref": {"$link": "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"}}
    }]
  },
  "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nudity"}]}
}`

func mustJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	m, err := dagcbor.ObjectFromJSON([]byte(s))
	if err != nil {
		t.Fatalf("test data: %v\n%s", err, s)
	}
	return m
}

// edit returns a copy of the typical post with change applied to it.
func edit(t testing.TB, change func(m map[string]any)) map[string]any {
	m := mustJSON(t, typicalPost)
	change(m)
	return m
}

func get(m map[string]any, keys ...any) any {
	var x any = m
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			x = x.(map[string]any)[k]
		case int:
			x = x.([]any)[k]
		}
	}
	return x
}

func TestValidateRecordValid(t *testing.T) {
	t.Parallel()
	c := Default()
	cases := []struct{ name, collection, json string }{
		{"post", NSIDFeedPost, typicalPost},
		{"minimal post", NSIDFeedPost, `{"$type":"app.bsky.feed.post","text":"","createdAt":"2024-01-01T00:00:00Z"}`},
		{"post with quote and video", NSIDFeedPost, `{"$type":"app.bsky.feed.post","text":"look","createdAt":"2024-01-01T00:00:00.000Z",
			"embed":{"$type":"app.bsky.embed.recordWithMedia",
			  "record":{"$type":"app.bsky.embed.record","record":{"uri":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c","cid":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}},
			  "media":{"$type":"app.bsky.embed.video","alt":"clip","video":{"$type":"blob","mimeType":"video/mp4","size":4000000,"ref":{"$link":"bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"}},
			    "captions":[{"lang":"en","file":{"$type":"blob","mimeType":"text/vtt","size":1200,"ref":{"$link":"bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"}}}]}}}`},
		{"post with link card", NSIDFeedPost, `{"$type":"app.bsky.feed.post","text":"read","createdAt":"2024-01-01T00:00:00Z",
			"embed":{"$type":"app.bsky.embed.external","external":{"uri":"https://example.com","title":"Example","description":"",
			  "thumb":{"$type":"blob","mimeType":"image/png","size":1,"ref":{"$link":"bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"}}}}}`},
		{"post with an embed type from the future", NSIDFeedPost, `{"$type":"app.bsky.feed.post","text":"x","createdAt":"2024-01-01T00:00:00Z",
			"embed":{"$type":"com.example.embed.poll","options":["a","b"]}}`},
		{"legacy image blob", NSIDFeedPost, `{"$type":"app.bsky.feed.post","text":"old","createdAt":"2023-01-01T00:00:00Z",
			"embed":{"$type":"app.bsky.embed.images","images":[{"alt":"","image":{"cid":"bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa","mimeType":"image/jpeg"}}]}}`},
		{"like", NSIDFeedLike, `{"$type":"app.bsky.feed.like","createdAt":"2024-01-01T00:00:00Z",
			"subject":{"uri":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c","cid":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"},
			"via":{"uri":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.repost/3l7pq5ohbzv2d","cid":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}}`},
		{"repost", NSIDFeedRepost, `{"$type":"app.bsky.feed.repost","createdAt":"2024-01-01T00:00:00Z",
			"subject":{"uri":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c","cid":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}}`},
		{"follow", NSIDGraphFollow, `{"$type":"app.bsky.graph.follow","subject":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","createdAt":"2024-01-01T00:00:00Z"}`},
		{"profile", NSIDActorProfile, `{"$type":"app.bsky.actor.profile","displayName":"Alice 🌻","description":"hello\nworld",
			"avatar":{"$type":"blob","mimeType":"image/jpeg","size":90000,"ref":{"$link":"bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"}},
			"pinnedPost":{"uri":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c","cid":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"}}`},
		{"empty profile", NSIDActorProfile, `{"$type":"app.bsky.actor.profile"}`},
		{"feed generator", NSIDFeedGenerator, `{"$type":"app.bsky.feed.generator","did":"did:web:feeds.example.com","displayName":"Cats",
			"description":"only cats","acceptsInteractions":false,"contentMode":"app.bsky.feed.defs#contentModeUnspecified","createdAt":"2024-01-01T00:00:00Z"}`},
		{"threadgate", NSIDFeedThreadgate, `{"$type":"app.bsky.feed.threadgate","post":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c",
			"allow":[{"$type":"app.bsky.feed.threadgate#mentionRule"},{"$type":"app.bsky.feed.threadgate#listRule","list":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.graph.list/3l7pq5ohbzv2e"}],
			"createdAt":"2024-01-01T00:00:00Z"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := c.ValidateRecord(tc.collection, mustJSON(t, tc.json)); err != nil {
				t.Fatalf("valid record rejected: %v", err)
			}
		})
	}
}

func TestValidateRecordInvalid(t *testing.T) {
	t.Parallel()
	c := Default()
	blob := func(mime string, size int64) map[string]any {
		b := mustJSON(t, `{"$type":"blob","mimeType":"x/y","size":0,"ref":{"$link":"bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"}}`)
		b["mimeType"], b["size"] = mime, size
		return b
	}
	cases := []struct {
		name   string
		change func(m map[string]any)
		path   string
	}{
		{"missing text", func(m map[string]any) { delete(m, "text") }, "record/text"},
		{"text over 300 graphemes", func(m map[string]any) { m["text"] = strings.Repeat("ab", 151) }, "record/text"},
		{"text over 300 graphemes of emoji", func(m map[string]any) { m["text"] = strings.Repeat("🎉", 301) }, "record/text"},
		{"text over 3000 bytes", func(m map[string]any) { m["text"] = strings.Repeat("👩‍👩‍👦", 200) }, "record/text"},
		{"text not a string", func(m map[string]any) { m["text"] = int64(5) }, "record/text"},
		{"missing createdAt", func(m map[string]any) { delete(m, "createdAt") }, "record/createdAt"},
		{"createdAt without zone", func(m map[string]any) { m["createdAt"] = "2024-11-05T12:34:56" }, "record/createdAt"},
		{"createdAt not a date", func(m map[string]any) { m["createdAt"] = "yesterday" }, "record/createdAt"},
		{"wrong $type", func(m map[string]any) { m["$type"] = "app.bsky.feed.like" }, "record/$type"},
		{"missing $type", func(m map[string]any) { delete(m, "$type") }, "record/$type"},
		{"bad language", func(m map[string]any) { get(m, "langs").([]any)[1] = "not a language" }, "record/langs/1"},
		{"too many languages", func(m map[string]any) { m["langs"] = []any{"en", "de", "fr", "es"} }, "record/langs"},
		{"facet byteStart a string", func(m map[string]any) {
			get(m, "facets", 0, "index").(map[string]any)["byteStart"] = "4"
		}, "record/facets/0/index/byteStart"},
		{"facet byteEnd negative", func(m map[string]any) {
			get(m, "facets", 1, "index").(map[string]any)["byteEnd"] = int64(-1)
		}, "record/facets/1/index/byteEnd"},
		{"facet without index", func(m map[string]any) { delete(get(m, "facets", 2).(map[string]any), "index") }, "record/facets/2/index"},
		{"mention with a handle for a DID", func(m map[string]any) {
			get(m, "facets", 0, "features", 0).(map[string]any)["did"] = "alice.bsky.social"
		}, "record/facets/0/features/0/did"},
		{"link feature without $type", func(m map[string]any) {
			delete(get(m, "facets", 1, "features", 0).(map[string]any), "$type")
		}, "record/facets/1/features/0"},
		{"five images", func(m map[string]any) {
			e := get(m, "embed").(map[string]any)
			img := get(m, "embed", "images", 0)
			e["images"] = []any{img, img, img, img, img}
		}, "record/embed/images"},
		{"image without alt", func(m map[string]any) { delete(get(m, "embed", "images", 0).(map[string]any), "alt") }, "record/embed/images/0/alt"},
		{"image alt not a string", func(m map[string]any) { get(m, "embed", "images", 0).(map[string]any)["alt"] = true }, "record/embed/images/0/alt"},
		{"image blob of a video", func(m map[string]any) {
			get(m, "embed", "images", 0).(map[string]any)["image"] = blob("video/mp4", 100)
		}, "record/embed/images/0/image"},
		{"image blob too large", func(m map[string]any) {
			get(m, "embed", "images", 0).(map[string]any)["image"] = blob("image/png", 1000001)
		}, "record/embed/images/0/image"},
		{"image blob is a string", func(m map[string]any) { get(m, "embed", "images", 0).(map[string]any)["image"] = "bafkrei" }, "record/embed/images/0/image"},
		{"aspect ratio zero", func(m map[string]any) {
			get(m, "embed", "images", 0, "aspectRatio").(map[string]any)["width"] = int64(0)
		}, "record/embed/images/0/aspectRatio/width"},
		{"embed with #main", func(m map[string]any) { get(m, "embed").(map[string]any)["$type"] = "app.bsky.embed.images#main" }, "record/embed"},
		{"embed of a known type with the wrong shape", func(m map[string]any) {
			get(m, "embed").(map[string]any)["$type"] = "app.bsky.embed.external"
		}, "record/embed/external"},
		{"reply parent without cid", func(m map[string]any) { delete(get(m, "reply", "parent").(map[string]any), "cid") }, "record/reply/parent/cid"},
		{"reply root uri not an AT-URI", func(m map[string]any) {
			get(m, "reply", "root").(map[string]any)["uri"] = "https://bsky.app/profile/x/post/y"
		}, "record/reply/root/uri"},
		{"too many self-labels", func(m map[string]any) {
			l := get(m, "labels").(map[string]any)
			v := get(m, "labels", "values", 0)
			l["values"] = []any{v, v, v, v, v, v, v, v, v, v, v}
		}, "record/labels/values"},
		{"tag too long", func(m map[string]any) { m["tags"] = []any{strings.Repeat("t", 65)} }, "record/tags/0"},
		{"null text", func(m map[string]any) { m["text"] = nil }, "record/text"},
		{"incomplete blob deep inside an undeclared field", func(m map[string]any) {
			m["extra"] = map[string]any{"x": map[string]any{"$type": "blob"}}
		}, "record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := c.ValidateRecord(NSIDFeedPost, edit(t, tc.change))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if ve.Path != tc.path || ve.Name != ErrNameInvalidRecord {
				t.Fatalf("error %q: path %q, want %q", err, ve.Path, tc.path)
			}
			if !strings.HasPrefix(err.Error(), "InvalidRecord: "+tc.path+": ") {
				t.Fatalf("error text %q", err)
			}
		})
	}
}

func TestValidateOtherRecordsInvalid(t *testing.T) {
	t.Parallel()
	c := Default()
	cases := []struct{ name, collection, json, path string }{
		{"like without cid", NSIDFeedLike, `{"$type":"app.bsky.feed.like","createdAt":"2024-01-01T00:00:00Z","subject":{"uri":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c"}}`, "record/subject/cid"},
		{"like with bad cid", NSIDFeedLike, `{"$type":"app.bsky.feed.like","createdAt":"2024-01-01T00:00:00Z","subject":{"uri":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c","cid":"Qm!"}}`, "record/subject/cid"},
		{"follow of a handle", NSIDGraphFollow, `{"$type":"app.bsky.graph.follow","subject":"alice.bsky.social","createdAt":"2024-01-01T00:00:00Z"}`, "record/subject"},
		{"follow without createdAt", NSIDGraphFollow, `{"$type":"app.bsky.graph.follow","subject":"did:plc:ewvi7nxzyoun6zhxrhs64oiz"}`, "record/createdAt"},
		{"profile name too long", NSIDActorProfile, `{"$type":"app.bsky.actor.profile","displayName":"` + strings.Repeat("é", 65) + `"}`, "record/displayName"},
		{"profile avatar gif", NSIDActorProfile, `{"$type":"app.bsky.actor.profile","avatar":{"$type":"blob","mimeType":"image/gif","size":9,"ref":{"$link":"bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"}}}`, "record/avatar"},
		{"generator without did", NSIDFeedGenerator, `{"$type":"app.bsky.feed.generator","displayName":"x","createdAt":"2024-01-01T00:00:00Z"}`, "record/did"},
		{"threadgate with six rules", NSIDFeedThreadgate, `{"$type":"app.bsky.feed.threadgate","post":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c","createdAt":"2024-01-01T00:00:00Z",
			"allow":[{"$type":"app.bsky.feed.threadgate#mentionRule"},{"$type":"app.bsky.feed.threadgate#mentionRule"},{"$type":"app.bsky.feed.threadgate#mentionRule"},
			{"$type":"app.bsky.feed.threadgate#mentionRule"},{"$type":"app.bsky.feed.threadgate#mentionRule"},{"$type":"app.bsky.feed.threadgate#mentionRule"}]}`, "record/allow"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := c.ValidateRecord(tc.collection, mustJSON(t, tc.json))
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Path != tc.path {
				t.Fatalf("got %v, want a failure at %s", err, tc.path)
			}
		})
	}
}

func TestValidateRecordSchemaErrors(t *testing.T) {
	t.Parallel()
	c := Default()
	rec := map[string]any{"$type": "com.example.unknown"}
	if err := c.ValidateRecord("com.example.unknown", rec); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("unknown collection: %v", err)
	}
	if err := c.ValidateRecord("app.bsky.feed.getPosts", rec); !errors.Is(err, ErrWrongSchemaType) {
		t.Errorf("query as collection: %v", err)
	}
	if err := c.ValidateRecord("app.bsky.feed.defs#postView", rec); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("fragment as collection: %v", err)
	}
}

func TestValidateRecordKey(t *testing.T) {
	t.Parallel()
	c := Default()
	cases := []struct {
		collection, rkey string
		ok               bool
	}{
		{NSIDFeedPost, "3l7pq5ohbzv2c", true},
		{NSIDFeedPost, "self", false},
		{NSIDActorProfile, "self", true},
		{NSIDActorProfile, "3l7pq5ohbzv2c", false},
		{NSIDFeedGenerator, "cats-only", true},
		{NSIDFeedGenerator, "a/b", false},
		{NSIDFeedLike, "..", false},
	}
	for _, tc := range cases {
		err := c.ValidateRecordKey(tc.collection, tc.rkey)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateRecordKey(%s, %q) = %v, want ok=%t", tc.collection, tc.rkey, err, tc.ok)
		}
		var ve *ValidationError
		if err != nil && (!errors.As(err, &ve) || ve.Path != "rkey") {
			t.Errorf("error %v does not name rkey", err)
		}
	}
}

func TestValidateParams(t *testing.T) {
	t.Parallel()
	c := Default()
	feed := "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.generator/cats"
	cases := []struct {
		nsid  string
		query string
		path  string // "" for valid
	}{
		{"app.bsky.feed.getFeedSkeleton", "feed=" + feed, ""},
		{"app.bsky.feed.getFeedSkeleton", "feed=" + feed + "&limit=100&cursor=abc", ""},
		{"app.bsky.feed.getFeedSkeleton", "limit=10", "params/feed"},
		{"app.bsky.feed.getFeedSkeleton", "feed=not-a-uri", "params/feed"},
		{"app.bsky.feed.getFeedSkeleton", "feed=" + feed + "&limit=0", "params/limit"},
		{"app.bsky.feed.getFeedSkeleton", "feed=" + feed + "&limit=ten", "params/limit"},
		{"app.bsky.feed.getFeedSkeleton", "feed=" + feed + "&limit=1&limit=2", "params/limit"},
		{"app.bsky.feed.getAuthorFeed", "actor=alice.bsky.social&includePins=true", ""},
		{"app.bsky.feed.getAuthorFeed", "actor=alice.bsky.social&includePins=yes", "params/includePins"},
		{"app.bsky.feed.getPosts", "uris=" + feed + "&uris=" + feed, ""},
		{"app.bsky.feed.getPosts", "uris=" + feed + "&uris=nope", "params/uris/1"},
		{"app.bsky.feed.getPosts", "uris=" + strings.Repeat(feed+"&uris=", 25) + feed, "params/uris"},
		{"com.atproto.sync.subscribeRepos", "cursor=12345", ""},
		{"com.atproto.sync.subscribeRepos", "cursor=-", "params/cursor"},
		{"com.atproto.sync.listRepos", "", ""},
	}
	for _, tc := range cases {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		err = c.ValidateParams(tc.nsid, q)
		var ve *ValidationError
		switch {
		case tc.path == "" && err != nil:
			t.Errorf("%s?%s: %v", tc.nsid, tc.query, err)
		case tc.path != "" && (!errors.As(err, &ve) || ve.Path != tc.path || ve.Name != ErrNameInvalidRequest):
			t.Errorf("%s?%s: got %v, want InvalidRequest at %s", tc.nsid, tc.query, err, tc.path)
		}
	}
	if err := c.ValidateParams("app.bsky.feed.post", nil); !errors.Is(err, ErrWrongSchemaType) {
		t.Errorf("params of a record: %v", err)
	}
}

func TestValidateBodies(t *testing.T) {
	t.Parallel()
	c := Default()
	check := func(err error, path string) {
		t.Helper()
		var ve *ValidationError
		switch {
		case path == "" && err != nil:
			t.Errorf("unexpected error: %v", err)
		case path != "" && (!errors.As(err, &ve) || ve.Path != path):
			t.Errorf("got %v, want a failure at %s", err, path)
		}
	}
	body := func(s string) any {
		v, err := dagcbor.FromJSON([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const post = `"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7pq5ohbzv2c"`
	check(c.ValidateOutput("app.bsky.feed.getFeedSkeleton", body(`{"cursor":"x","feed":[{"post":`+post+`},
		{"post":`+post+`,"reason":{"$type":"app.bsky.feed.defs#skeletonReasonRepost","repost":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.repost/3l7pq5ohbzv2d"}}]}`)), "")
	check(c.ValidateOutput("app.bsky.feed.getFeedSkeleton", body(`{"feed":[{"post":"x"}]}`)), "output/feed/0/post")
	check(c.ValidateOutput("app.bsky.feed.getFeedSkeleton", body(`{"feed":[{"post":`+post+`,"reason":{"$type":"app.bsky.feed.defs#skeletonReasonRepost"}}]}`)),
		"output/feed/0/reason/repost")

	check(c.ValidateInput("com.atproto.repo.createRecord", body(`{"repo":"alice.bsky.social","collection":"app.bsky.feed.post","record":{"$type":"app.bsky.feed.post"}}`)), "")
	check(c.ValidateInput("com.atproto.repo.createRecord", body(`{"repo":"alice.bsky.social","collection":"app.bsky.feed.post","record":"hi"}`)), "input/record")
	check(c.ValidateInput("com.atproto.repo.putRecord", body(`{"repo":"alice.bsky.social","collection":"app.bsky.feed.post","rkey":"3l7pq5ohbzv2c","record":{},"swapRecord":null}`)), "")
	// applyWrites.writes is a closed union: an unknown $type is refused.
	check(c.ValidateInput("com.atproto.repo.applyWrites", body(`{"repo":"alice.bsky.social","writes":[
		{"$type":"com.atproto.repo.applyWrites#create","collection":"app.bsky.feed.post","value":{}},
		{"$type":"com.atproto.repo.applyWrites#delete","collection":"app.bsky.feed.post","rkey":"3l7pq5ohbzv2c"}]}`)), "")
	check(c.ValidateInput("com.atproto.repo.applyWrites", body(`{"repo":"alice.bsky.social","writes":[
		{"$type":"com.atproto.repo.applyWrites#frobnicate","collection":"app.bsky.feed.post"}]}`)), "input/writes/0")

	check(c.ValidateOutput("app.bsky.actor.getProfile", body(`{"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","handle":"alice.bsky.social","followersCount":3}`)), "")
	check(c.ValidateOutput("app.bsky.actor.getProfile", body(`{"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz"}`)), "output/handle")

	commit := body(`{"seq":1,"rebase":false,"tooBig":false,"repo":"did:plc:ewvi7nxzyoun6zhxrhs64oiz",
		"commit":{"$link":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"},"rev":"3l7pq5ohbzv2c","since":null,
		"blocks":{"$bytes":""},"ops":[{"action":"delete","path":"app.bsky.feed.post/3l7pq5ohbzv2c","cid":null}],"blobs":[],
		"time":"2024-01-01T00:00:00Z"}`).(map[string]any)
	check(c.ValidateMessage("com.atproto.sync.subscribeRepos", "#commit", commit), "")
	commit["since"] = "not a tid"
	check(c.ValidateMessage("com.atproto.sync.subscribeRepos", "#commit", commit), "message/since")
	check(c.ValidateMessage("com.atproto.sync.subscribeRepos", "#tombstone", commit), "message")
}

func TestGraphemeCount(t *testing.T) {
	t.Parallel()
	cases := []struct {
		s    string
		want int
	}{
		{"", 0},
		{"hello", 5},
		{"a\r\nb", 3},
		{"\r\r\n\n", 3},
		{"é", 1},            // precomposed
		{"e\u0301", 1},      // e + combining acute
		{"🇩🇪🏳️‍🌈", 2},       // flag, ZWJ rainbow flag
		{"👩‍👩‍👦‍👦", 1},      // ZWJ family
		{"👍🏽", 1},           // skin tone modifier
		{"한국어", 3},          // precomposed Hangul
		{"\u1100\u1161", 1}, // conjoining jamo
		// Not tested: Indic conjuncts such as "नमस्ते" are one cluster
		// per conjunct only from Unicode 15.1 (GB9c), which uniseg v0.4.7
		// predates: it counts 4 clusters there, not 3.
	}
	for _, tc := range cases {
		if got := graphemeCount(tc.s); got != tc.want {
			t.Errorf("graphemeCount(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
	max := int64(3)
	if _, ok := graphemesWithin("abcd", nil, &max); ok {
		t.Error("4 ASCII graphemes within max 3")
	}
	if _, ok := graphemesWithin("🎉🎉🎉", nil, &max); !ok {
		t.Error("3 emoji (12 bytes) not within max 3")
	}
}
