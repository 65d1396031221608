package lexicon

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// fuzzCollections are the records FuzzValidateRecord checks each input as.
var fuzzCollections = []string{
	NSIDFeedPost, NSIDFeedLike, NSIDFeedRepost, NSIDGraphFollow,
	NSIDActorProfile, NSIDFeedGenerator, NSIDFeedThreadgate,
}

func FuzzValidateRecord(f *testing.F) {
	f.Add([]byte(typicalPost))
	for _, file := range []string{"record-data-valid.json", "record-data-invalid.json"} {
		for _, tc := range readCases[recordCase](f, file) {
			f.Add([]byte(tc.Data))
		}
	}
	if data, err := os.ReadFile(feedPostVector); err == nil {
		var v any
		if err := dagcbor.Unmarshal(data, &v); err != nil {
			f.Fatal(err)
		}
		js, err := dagcbor.ToJSON(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	for _, s := range []string{
		`{}`, `[]`, `null`, `{"$type":"blob"}`,
		`{"text":"` + strings.Repeat("🎉", 400) + `","createdAt":"0000-01-01T00:00:00+23:59"}`,
		`{"embed":{"$type":"app.bsky.embed.recordWithMedia","record":{"record":{}},"media":{"$type":"app.bsky.embed.recordWithMedia"}}}`,
		`{"facets":[{"index":{"byteStart":-9223372036854775808,"byteEnd":9223372036854775807},"features":[{"$type":""}]}]}`,
		`{"subject":{"uri":"at://a/b/c","cid":"` + strings.Repeat("a", 300) + `"}}`,
		`{"avatar":{"cid":"bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa","mimeType":"image/png"}}`,
		`{"allow":[{"$type":"app.bsky.feed.threadgate#listRule"},{"$type":"app.bsky.feed.threadgate#main"}]}`,
		strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70),
	} {
		f.Add([]byte(s))
	}
	cat := Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := dagcbor.ObjectFromJSON(data)
		if err != nil {
			return
		}
		for _, coll := range fuzzCollections {
			m["$type"] = coll
			err := cat.ValidateRecord(coll, m)
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Path == "" || ve.Name != ErrNameInvalidRecord {
					t.Fatalf("%s: error %v is not a *ValidationError", coll, err)
				}
				if again := cat.ValidateRecord(coll, m); again == nil || again.Error() != err.Error() {
					t.Fatalf("%s: second validation gave %v, first %v", coll, again, err)
				}
				continue
			}
			// A valid record decodes into its type, and re-encoding the
			// type gives a record that is still valid.
			enc, err := dagcbor.Marshal(m)
			if err != nil {
				t.Fatalf("%s: valid record does not encode: %v", coll, err)
			}
			typed, err := cat.DecodeRecord(coll, enc)
			if err != nil {
				t.Fatalf("%s: valid record does not decode: %v", coll, err)
			}
			re, err := dagcbor.Marshal(typed)
			if err != nil {
				t.Fatalf("%s: decoded record does not re-encode: %v", coll, err)
			}
			var generic map[string]any
			if err := dagcbor.Unmarshal(re, &generic); err != nil {
				t.Fatalf("%s: re-encoded record does not decode: %v", coll, err)
			}
			if err := cat.ValidateRecord(coll, generic); err != nil {
				t.Fatalf("%s: re-encoded record is invalid: %v\nin:  %s", coll, err, data)
			}
			if _, err := json.Marshal(typed); err != nil {
				t.Fatalf("%s: decoded record has no JSON form: %v", coll, err)
			}
		}
	})
}

func FuzzLoadSchema(f *testing.F) {
	add := func(fsys fs.FS) {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			if err == nil {
				f.Add(data)
			}
			return err
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	add(embedded)
	add(os.DirFS(interopDir + "catalog"))
	for _, file := range []string{"lexicon-valid.json", "lexicon-invalid.json"} {
		for _, tc := range readCases[schemaCase](f, file) {
			f.Add([]byte(tc.Lexicon))
		}
	}
	for _, s := range []string{
		``, `null`, `[]`, `{"lexicon":1}`,
		string(doc(`"main":{"type":"record","key":"literal:self","record":{"type":"object","properties":{"x":{"type":"array","items":{"type":"union","refs":["#main"]}}}}}`)),
		string(doc(`"a":{"type":"integer","minimum":-9223372036854775808,"maximum":9223372036854775807,"enum":[1e3]}`)),
		string(doc(`"a":` + strings.Repeat(`{"type":"array","items":`, 200) + `{"type":"integer"}` + strings.Repeat(`}`, 200))),
		string(doc(`"main":{"type":"subscription","message":{"schema":{"type":"union","refs":["#a"]}}},"a":{"type":"object","properties":{}}`)),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSchema(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchema) || s != nil {
				t.Fatalf("error %v does not wrap ErrInvalidSchema", err)
			}
			return
		}
		if len(s.Defs) == 0 {
			t.Fatal("schema without defs accepted")
		}
		c := NewCatalog()
		if err := c.Add(s); err != nil {
			t.Fatal(err)
		}
		_ = c.CheckRefs()
		// Validating against whatever was accepted must not panic either.
		id := string(s.ID)
		_ = c.ValidateRecord(id, map[string]any{"$type": id, "x": []any{map[string]any{"$type": id}}})
		_ = c.ValidateParams(id, url.Values{"x": {"1", "true"}})
		_ = c.ValidateInput(id, map[string]any{})
		_ = c.ValidateOutput(id, map[string]any{})
		_ = c.ValidateMessage(id, "#a", map[string]any{})
	})
}
