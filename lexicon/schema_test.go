package lexicon

import (
	"errors"
	"strings"
	"testing"
)

// doc wraps defs into a schema document with id com.example.test.
func doc(defs string) []byte {
	return []byte(`{"lexicon":1,"id":"com.example.test","defs":{` + defs + `}}`)
}

func TestParseSchemaRejects(t *testing.T) {
	t.Parallel()
	cases := map[string][]byte{
		"not json":                 []byte(`{`),
		"trailing data":            []byte(`{"lexicon":1,"id":"com.example.test","defs":{"a":{"type":"token"}}} {}`),
		"no lexicon":               []byte(`{"id":"com.example.test","defs":{"a":{"type":"token"}}}`),
		"lexicon 2":                []byte(`{"lexicon":2,"id":"com.example.test","defs":{"a":{"type":"token"}}}`),
		"no id":                    []byte(`{"lexicon":1,"defs":{"a":{"type":"token"}}}`),
		"no defs":                  []byte(`{"lexicon":1,"id":"com.example.test","defs":{}}`),
		"bad def name":             doc(`"a#b":{"type":"token"}`),
		"null def":                 doc(`"a":null`),
		"unknown type":             doc(`"a":{"type":"float"}`),
		"missing type":             doc(`"a":{"maxLength":3}`),
		"named union":              doc(`"a":{"type":"union","refs":["#b"]},"b":{"type":"object","properties":{}}`),
		"named params":             doc(`"a":{"type":"params","properties":{}}`),
		"two primaries":            doc(`"main":{"type":"query"},"b":{"type":"procedure"}`),
		"token as a field":         doc(`"a":{"type":"object","properties":{"t":{"type":"token"}}}`),
		"record as a field":        doc(`"a":{"type":"object","properties":{"r":{"type":"record","key":"any","record":{"type":"object","properties":{}}}}}`),
		"bad record key":           doc(`"main":{"type":"record","key":"uuid","record":{"type":"object","properties":{}}}`),
		"bad literal key":          doc(`"main":{"type":"record","key":"literal:a/b","record":{"type":"object","properties":{}}}`),
		"record without object":    doc(`"main":{"type":"record","key":"tid"}`),
		"unknown format":           doc(`"a":{"type":"string","format":"email"}`),
		"min above max":            doc(`"a":{"type":"string","minLength":5,"maxLength":4}`),
		"negative length":          doc(`"a":{"type":"bytes","maxLength":-1}`),
		"integer min above max":    doc(`"a":{"type":"integer","minimum":5,"maximum":4}`),
		"const and default":        doc(`"a":{"type":"integer","const":1,"default":1}`),
		"float const":              doc(`"a":{"type":"integer","const":1.5}`),
		"string enum of ints":      doc(`"a":{"type":"string","enum":[1,2]}`),
		"const on object":          doc(`"a":{"type":"object","properties":{},"const":1}`),
		"array without items":      doc(`"a":{"type":"array"}`),
		"required not a property":  doc(`"a":{"type":"object","required":["x"],"properties":{}}`),
		"nullable not a property":  doc(`"a":{"type":"object","nullable":["x"],"properties":{}}`),
		"closed empty union":       doc(`"a":{"type":"object","properties":{"u":{"type":"union","refs":[],"closed":true}}}`),
		"union ref twice":          doc(`"a":{"type":"object","properties":{"u":{"type":"union","refs":["#a","com.example.test#a"]}}}`),
		"bad ref":                  doc(`"a":{"type":"object","properties":{"r":{"type":"ref","ref":"not an nsid"}}}`),
		"empty ref":                doc(`"a":{"type":"object","properties":{"r":{"type":"ref","ref":""}}}`),
		"bad accept":               doc(`"a":{"type":"blob","accept":["image/ht*"]}`),
		"object param":             doc(`"main":{"type":"query","parameters":{"type":"params","properties":{"o":{"type":"object","properties":{}}}}}`),
		"parameters not params":    doc(`"main":{"type":"query","parameters":{"type":"object","properties":{}}}`),
		"query with input":         doc(`"main":{"type":"query","input":{"encoding":"application/json"}}`),
		"output without encoding":  doc(`"main":{"type":"query","output":{"schema":{"type":"object","properties":{}}}}`),
		"output of a string":       doc(`"main":{"type":"query","output":{"encoding":"application/json","schema":{"type":"string"}}}`),
		"subscription no message":  doc(`"main":{"type":"subscription"}`),
		"message not a union":      doc(`"main":{"type":"subscription","message":{"schema":{"type":"object","properties":{}}}}`),
		"error name with a space":  doc(`"main":{"type":"query","errors":[{"name":"Bad Thing"}]}`),
		"permission wrong type":    doc(`"main":{"type":"permission-set","permissions":[{"type":"perm","resource":"repo"}]}`),
		"permission outside a set": doc(`"a":{"type":"object","properties":{"p":{"type":"permission","resource":"repo"}}}`),
		"wrong field type":         doc(`"a":{"type":"string","maxLength":"10"}`),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseSchema(data); !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("ParseSchema = %v, want ErrInvalidSchema", err)
			}
		})
	}
}

func TestParseSchemaDerivedFields(t *testing.T) {
	t.Parallel()
	s, err := ParseSchema(doc(`"main":{"type":"record","key":"literal:self","record":{"type":"object","properties":{
		"n":{"type":"integer","enum":[1,2],"default":1},"s":{"type":"string","const":"x"},"b":{"type":"boolean","const":true},
		"local":{"type":"ref","ref":"#obj"},"main":{"type":"ref","ref":"com.example.other#main"},
		"u":{"type":"union","refs":["#obj","com.example.other"]}}}},
		"obj":{"type":"object","properties":{}},
		"perms":{"type":"token"}`))
	if err != nil {
		t.Fatal(err)
	}
	props := s.Defs["main"].Record.Properties
	if got := props["n"].Enum; len(got) != 2 || got[0] != int64(1) || props["n"].Default != int64(1) {
		t.Errorf("integer enum/default = %v / %v", got, props["n"].Default)
	}
	if props["s"].Const != "x" || props["b"].Const != true {
		t.Errorf("consts = %v, %v", props["s"].Const, props["b"].Const)
	}
	if props["local"].fullRef != "com.example.test#obj" || props["main"].fullRef != "com.example.other" {
		t.Errorf("refs = %q, %q", props["local"].fullRef, props["main"].fullRef)
	}
	if got := strings.Join(props["u"].fullRefs, " "); got != "com.example.test#obj com.example.other" {
		t.Errorf("union refs = %q", got)
	}
	if s.Defs["main"].name != "com.example.test" || s.Defs["perms"].name != "com.example.test#perms" {
		t.Errorf("names = %q, %q", s.Defs["main"].name, s.Defs["perms"].name)
	}
}

func TestCatalogCheckRefs(t *testing.T) {
	t.Parallel()
	c := NewCatalog()
	if err := c.LoadJSON(doc(`"a":{"type":"object","properties":{
		"ok":{"type":"ref","ref":"#b"},
		"missing":{"type":"ref","ref":"com.example.nowhere#x"},
		"token":{"type":"ref","ref":"#tok"},
		"u":{"type":"union","refs":["#b","#str"]}}},
		"b":{"type":"object","properties":{}},
		"str":{"type":"string"},
		"tok":{"type":"token"}`)); err != nil {
		t.Fatal(err)
	}
	err := c.CheckRefs()
	if !errors.Is(err, ErrUnknownSchema) || !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("CheckRefs = %v", err)
	}
	for _, want := range []string{"com.example.nowhere#x does not resolve", "#tok points at a token", "#str points at a string"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckRefs error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "#b") {
		t.Errorf("a good ref was reported:\n%v", err)
	}
	if err := c.LoadJSON(doc(`"x":{"type":"token"}`)); err == nil {
		t.Error("the same NSID loaded twice")
	}
	if _, err := c.Resolve("com.example.test#b"); err != nil {
		t.Error(err)
	}
	if _, err := c.Resolve("com.example.test#zzz"); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("Resolve of a missing def: %v", err)
	}
}

func TestCatalogAddChecksHandBuiltSchemas(t *testing.T) {
	t.Parallel()
	max := int64(3)
	good := &Schema{Lexicon: 1, ID: "com.example.hand", Defs: map[string]*Def{
		"main": {Type: "record", Key: "tid", Record: &Def{Type: "object", Required: []string{"n"},
			Properties: map[string]*Def{"n": {Type: "integer", Maximum: &max, Enum: []any{int64(1), int64(5)}}}}},
	}}
	c := NewCatalog()
	if err := c.Add(good); err != nil {
		t.Fatal(err)
	}
	err := c.ValidateRecord("com.example.hand", map[string]any{"$type": "com.example.hand", "n": int64(5)})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Path != "record/n" {
		t.Errorf("hand-built schema not enforced: %v", err)
	}
	bad := &Schema{Lexicon: 1, ID: "com.example.bad", Defs: map[string]*Def{
		"a": {Type: "integer", Enum: []any{"one"}},
	}}
	if err := c.Add(bad); !errors.Is(err, ErrInvalidSchema) {
		t.Errorf("integer enum of strings added: %v", err)
	}
}
