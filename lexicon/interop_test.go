package lexicon

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

const interopDir = "../../shared/testdata/atproto-interop/lexicon/"

type schemaCase struct {
	Name    string          `json:"name"`
	Lexicon json.RawMessage `json:"lexicon"`
}

type recordCase struct {
	Name string          `json:"name"`
	RKey string          `json:"rkey"`
	Data json.RawMessage `json:"data"`
}

func readCases[T any](t testing.TB, file string) []T {
	t.Helper()
	data, err := os.ReadFile(interopDir + file)
	if err != nil {
		t.Fatal(err)
	}
	var cases []T
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", file)
	}
	return cases
}

func TestInteropLexiconValid(t *testing.T) {
	t.Parallel()
	for _, tc := range readCases[schemaCase](t, "lexicon-valid.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSchema(tc.Lexicon)
			if err != nil {
				t.Fatalf("valid schema rejected: %v", err)
			}
			if len(s.Defs) == 0 {
				t.Fatal("no defs")
			}
			if err := NewCatalog().Add(s); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInteropLexiconInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range readCases[schemaCase](t, "lexicon-invalid.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSchema(tc.Lexicon)
			if err == nil {
				t.Fatalf("invalid schema accepted: %+v", s)
			}
			if !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("error %v does not wrap ErrInvalidSchema", err)
			}
		})
	}
}

// interopCatalog loads the interop catalog folder. Its procedure schema
// refers to app.bsky.actor.defs, which the folder does not hold, so only the
// record schema's references are required to resolve.
func interopCatalog(t testing.TB) *Catalog {
	t.Helper()
	c := NewCatalog()
	if err := c.Load(os.DirFS(interopDir + "catalog")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"example.lexicon.record", "example.lexicon.query",
		"example.lexicon.procedure", "example.lexicon.subscription", "example.lexicon.permissionset"} {
		if _, ok := c.Get(id); !ok {
			t.Fatalf("catalog lacks %s", id)
		}
	}
	return c
}

func TestInteropCatalogRefs(t *testing.T) {
	t.Parallel()
	err := interopCatalog(t).CheckRefs()
	if err == nil || !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("CheckRefs = %v, want the unresolved app.bsky.actor.defs#preferences", err)
	}
	// Exactly that one reference is missing.
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		n++
		if want := "app.bsky.actor.defs#preferences"; !contains(e.Error(), want) {
			t.Errorf("unexpected ref error: %v", e)
		}
	}
	if n != 1 {
		t.Errorf("%d ref errors, want 1", n)
	}
}

func TestInteropRecordDataValid(t *testing.T) {
	t.Parallel()
	cat := interopCatalog(t)
	for _, tc := range readCases[recordCase](t, "record-data-valid.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			rec, err := dagcbor.ObjectFromJSON(tc.Data)
			if err != nil {
				t.Fatalf("FromJSON: %v", err)
			}
			if err := cat.ValidateRecord("example.lexicon.record", rec); err != nil {
				t.Fatalf("valid record rejected: %v", err)
			}
			if err := cat.ValidateRecordKey("example.lexicon.record", tc.RKey); err != nil {
				t.Fatalf("record key: %v", err)
			}
		})
	}
}

func TestInteropRecordDataInvalid(t *testing.T) {
	t.Parallel()
	cat := interopCatalog(t)
	for _, tc := range readCases[recordCase](t, "record-data-invalid.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			rec, err := dagcbor.ObjectFromJSON(tc.Data)
			if err != nil {
				t.Fatalf("FromJSON: %v", err)
			}
			err = cat.ValidateRecord("example.lexicon.record", rec)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("invalid record: got %v, want a *ValidationError", err)
			}
			if ve.Name != ErrNameInvalidRecord || !errors.Is(err, ErrInvalidData) {
				t.Fatalf("error %v: wrong name or sentinel", err)
			}
			// Some cases also lack the required "integer" field; with it
			// added they must still fail, for the reason they are about.
			if _, ok := rec["integer"]; !ok && tc.Name != "missing required field" {
				rec["integer"] = int64(1)
				err = cat.ValidateRecord("example.lexicon.record", rec)
				if !errors.As(err, &ve) || ve.Path == "record/integer" {
					t.Fatalf("with integer added: got %v", err)
				}
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
