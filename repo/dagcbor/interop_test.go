package dagcbor

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Interop vectors, read in place from the shared checkout.
const (
	fixturesPath = "../../../shared/testdata/atproto-interop/data-model/data-model-fixtures.json"
	validPath    = "../../../shared/testdata/atproto-interop/data-model/data-model-valid.json"
	invalidPath  = "../../../shared/testdata/atproto-interop/data-model/data-model-invalid.json"
	feedPostPath = "../../../shared/testdata/indigo/feedpost_record.cbor"
)

type fixture struct {
	JSON       json.RawMessage `json:"json"`
	CBORBase64 string          `json:"cbor_base64"`
	CID        string          `json:"cid"`
}

type noteCase struct {
	Note string          `json:"note"`
	JSON json.RawMessage `json:"json"`
}

func readJSONFile[T any](t testing.TB, path string) []T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return out
}

func readFeedPost(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(feedPostPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON compares two JSON texts as values (key order and spacing aside).
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs\n got: %s\nwant: %s", got, want)
	}
}

func TestInteropFixtures(t *testing.T) {
	t.Parallel()
	for i, fx := range readJSONFile[fixture](t, fixturesPath) {
		wantCBOR, err := base64.RawStdEncoding.DecodeString(fx.CBORBase64)
		if err != nil {
			t.Fatalf("case %d: fixture base64: %v", i, err)
		}

		// JSON -> data model -> CBOR bytes and CID.
		fromJSON, err := FromJSON(fx.JSON)
		if err != nil {
			t.Fatalf("case %d: FromJSON: %v", i, err)
		}
		gotCBOR, err := Marshal(fromJSON)
		if err != nil {
			t.Fatalf("case %d: Marshal: %v", i, err)
		}
		if !bytes.Equal(gotCBOR, wantCBOR) {
			t.Fatalf("case %d: CBOR\n got %x\nwant %x", i, gotCBOR, wantCBOR)
		}
		if got := cid.Sum(cid.DagCBOR, gotCBOR).String(); got != fx.CID {
			t.Fatalf("case %d: CID %s, want %s", i, got, fx.CID)
		}

		// CBOR -> data model -> JSON, and the two data-model values agree.
		var fromCBOR any
		if err := Unmarshal(wantCBOR, &fromCBOR); err != nil {
			t.Fatalf("case %d: Unmarshal: %v", i, err)
		}
		if !reflect.DeepEqual(fromCBOR, fromJSON) {
			t.Fatalf("case %d: values differ\nCBOR: %#v\nJSON: %#v", i, fromCBOR, fromJSON)
		}
		gotJSON, err := ToJSON(fromCBOR)
		if err != nil {
			t.Fatalf("case %d: ToJSON: %v", i, err)
		}
		sameJSON(t, gotJSON, fx.JSON)
		if err := Valid(wantCBOR); err != nil {
			t.Fatalf("case %d: Valid: %v", i, err)
		}
	}
}

func TestInteropValid(t *testing.T) {
	t.Parallel()
	for _, c := range readJSONFile[noteCase](t, validPath) {
		v, err := ObjectFromJSON(c.JSON)
		if err != nil {
			t.Errorf("%s: ObjectFromJSON: %v", c.Note, err)
			continue
		}
		// Accepted values also have a CBOR form that decodes back to them.
		b, err := Marshal(v)
		if err != nil {
			t.Errorf("%s: Marshal: %v", c.Note, err)
			continue
		}
		var back any
		if err := Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, any(v)) {
			t.Errorf("%s: CBOR round trip: %v\n got %#v\nwant %#v", c.Note, err, back, v)
		}
	}
}

func TestInteropInvalid(t *testing.T) {
	t.Parallel()
	// Each case must fail for its own reason: JSON-level shapes with ErrJSON,
	// rules that also bind the CBOR form ($type, blobs) with ErrModel.
	want := map[string]error{
		"top-level not an object":        ErrJSON,
		"float":                          ErrJSON,
		"record with $type null":         ErrModel,
		"record with $type wrong type":   ErrModel,
		"record with empty $type string": ErrModel,
		"blob with string size":          ErrModel,
		"blob with missing key":          ErrModel,
		"bytes with wrong field type":    ErrJSON,
		"bytes with extra fields":        ErrJSON,
		"link with wrong field type":     ErrJSON,
		"link with bogus CID":            ErrJSON,
		"link with extra fields":         ErrJSON,
	}
	for _, c := range readJSONFile[noteCase](t, invalidPath) {
		sentinel, ok := want[c.Note]
		if !ok {
			t.Errorf("%s: new case in the vector file; add its expected error", c.Note)
			continue
		}
		v, err := ObjectFromJSON(c.JSON)
		if !errors.Is(err, sentinel) {
			t.Errorf("%s: ObjectFromJSON = %#v, %v; want %v", c.Note, v, err, sentinel)
		}
	}
}

// TestInteropValidIntegerLikeFloat pins the one valid case that needs care:
// 123.0 is read as the integer 123.
func TestInteropValidIntegerLikeFloat(t *testing.T) {
	t.Parallel()
	for _, c := range readJSONFile[noteCase](t, validPath) {
		if c.Note != "float, but integer-like" {
			continue
		}
		v, err := ObjectFromJSON(c.JSON)
		if err != nil {
			t.Fatal(err)
		}
		if got := v["rcrd"].(map[string]any)["a"]; got != int64(123) {
			t.Fatalf("a = %#v, want int64(123)", got)
		}
		return
	}
	t.Fatal("case not found in the vector file")
}

func TestFeedPostGenericRoundTrip(t *testing.T) {
	t.Parallel()
	raw := readFeedPost(t)
	var v any
	if err := Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	again, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, raw) {
		t.Fatalf("re-encoding differs\n got %x\nwant %x", again, raw)
	}
	post := v.(map[string]any)
	if post["$type"] != "app.bsky.feed.post" || post["createdAt"] != "2023-03-29T20:59:19.417Z" {
		t.Fatalf("unexpected fields: %#v", post)
	}
	img := post["embed"].(map[string]any)["media"].(map[string]any)["images"].([]any)[0].(map[string]any)["image"].(map[string]any)
	ref, ok := img["ref"].(cid.CID)
	if !ok || ref.Codec() != cid.Raw {
		t.Fatalf("image ref = %#v, want a raw-codec cid.CID", img["ref"])
	}
	if img["size"] != int64(751473) {
		t.Fatalf("image size = %#v, want int64(751473)", img["size"])
	}
	if err := Check(v); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// The app.bsky.feed.post shape, as far as this record uses it.
type feedPost struct {
	Type      string     `cbor:"$type"`
	Text      string     `cbor:"text"`
	CreatedAt string     `cbor:"createdAt"`
	Embed     *postEmbed `cbor:"embed,omitempty"`
	Langs     []string   `cbor:"langs,omitempty"`
}

type postEmbed struct {
	Type   string       `cbor:"$type"`
	Media  *embedMedia  `cbor:"media,omitempty"`
	Record *embedRecord `cbor:"record,omitempty"`
}

type embedMedia struct {
	Type   string       `cbor:"$type"`
	Images []embedImage `cbor:"images"`
}

type embedImage struct {
	Alt   string   `cbor:"alt"`
	Image blobRef  `cbor:"image"`
	Ratio *aspectR `cbor:"aspectRatio,omitempty"`
}

type aspectR struct {
	Width  int64 `cbor:"width"`
	Height int64 `cbor:"height"`
}

type blobRef struct {
	Type     string  `cbor:"$type"`
	Ref      cid.CID `cbor:"ref"`
	MimeType string  `cbor:"mimeType"`
	Size     int64   `cbor:"size"`
}

type embedRecord struct {
	Type   string    `cbor:"$type"`
	Record strongRef `cbor:"record"`
}

type strongRef struct {
	CID string `cbor:"cid"`
	URI string `cbor:"uri"`
}

func TestFeedPostStruct(t *testing.T) {
	t.Parallel()
	raw := readFeedPost(t)
	var p feedPost
	if err := Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "app.bsky.feed.post" || p.Text != "Who the hell do you think you are" ||
		p.CreatedAt != "2023-03-29T20:59:19.417Z" {
		t.Fatalf("post fields: %+v", p)
	}
	if p.Embed == nil || p.Embed.Media == nil || p.Embed.Record == nil || len(p.Embed.Media.Images) != 1 {
		t.Fatalf("embed: %+v", p.Embed)
	}
	img := p.Embed.Media.Images[0].Image
	if img.Type != "blob" || img.MimeType != "image/jpeg" || img.Size != 751473 ||
		img.Ref.String() != "bafkreieqq463374bbcbeq7gpmet5rvrpeqow6t4rtjzrkhnlumdylagaqa" {
		t.Fatalf("image blob: %+v (ref %s)", img, img.Ref)
	}
	if p.Embed.Record.Record.URI != "at://did:plc:rbtury4cp2sdk4tvnedaqu54/app.bsky.feed.post/3jilislho4s2k" {
		t.Fatalf("quoted record: %+v", p.Embed.Record)
	}
	// The struct covers every field of this record, so it re-encodes exactly.
	again, err := Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, raw) {
		t.Fatalf("struct re-encoding differs\n got %x\nwant %x", again, raw)
	}
}
