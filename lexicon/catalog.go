package lexicon

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	pathpkg "path"
	"slices"
	"strings"
	"sync"

	"github.com/conflux-atproto/conflux/repo/syntax"
)

// Catalog holds schema documents and resolves references between them.
//
// Loading (Load, LoadJSON, Add) is not safe for concurrent use; once loading
// is done a Catalog is read-only and any number of goroutines may validate
// against it. The catalog from Default is shared and refuses further loads.
type Catalog struct {
	frozen  bool
	schemas map[syntax.NSID]*Schema
	defs    map[string]*Def // by full reference: "nsid" for main, "nsid#name"
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{
		schemas: make(map[syntax.NSID]*Schema),
		defs:    make(map[string]*Def),
	}
}

//go:embed schemas
var embedded embed.FS

// defaultCatalog parses the embedded schemas once, on first use.
var defaultCatalog = sync.OnceValues(func() (*Catalog, error) {
	c, err := LoadDefault()
	if err != nil {
		return nil, err
	}
	c.frozen = true
	return c, nil
})

// Default returns the shared, read-only catalog of the schemas embedded in
// this package: every record, query, procedure and subscription Conflux reads
// or serves, and everything they reference. It is built on first use.
//
// The embedded schemas are part of the build and are checked by this
// package's tests, so failing to load them is a bug in Conflux, not a runtime
// condition: Default panics in that case.
func Default() *Catalog {
	c, err := defaultCatalog()
	if err != nil {
		panic(fmt.Sprintf("lexicon: embedded schemas: %v", err))
	}
	return c
}

// LoadDefault returns a new, writable catalog holding the embedded schemas,
// for callers that add schemas of their own.
func LoadDefault() (*Catalog, error) {
	sub, err := fs.Sub(embedded, "schemas")
	if err != nil {
		return nil, fmt.Errorf("embedded schemas: %w", err)
	}
	c := NewCatalog()
	if err := c.Load(sub); err != nil {
		return nil, fmt.Errorf("embedded schemas: %w", err)
	}
	return c, nil
}

// Load adds every *.json file under the root of fsys, recursively, as a
// schema document.
func (c *Catalog) Load(fsys fs.FS) error {
	if c.frozen {
		return ErrFrozen
	}
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || pathpkg.Ext(p) != ".json" {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if err := c.LoadJSON(data); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return nil
	})
}

// LoadJSON parses one schema document and adds it.
func (c *Catalog) LoadJSON(data []byte) error {
	if c.frozen {
		return ErrFrozen
	}
	s, err := ParseSchema(data)
	if err != nil {
		return err
	}
	return c.Add(s)
}

// Add adds a schema document. A Schema built in Go rather than by
// ParseSchema is checked here, as ParseSchema would. An NSID may be added
// only once.
func (c *Catalog) Add(s *Schema) error {
	if c.frozen {
		return ErrFrozen
	}
	if err := s.check(); err != nil {
		return err
	}
	if _, dup := c.schemas[s.ID]; dup {
		return fmt.Errorf("%w: %s is already in the catalog", ErrInvalidSchema, s.ID)
	}
	c.schemas[s.ID] = s
	for _, d := range s.Defs {
		c.defs[d.name] = d
	}
	return nil
}

// Get returns the schema document for an NSID.
func (c *Catalog) Get(nsid string) (*Schema, bool) {
	s, ok := c.schemas[syntax.NSID(nsid)]
	return s, ok
}

// NSIDs returns the NSIDs of every document in the catalog, sorted.
func (c *Catalog) NSIDs() []string {
	out := make([]string, 0, len(c.schemas))
	for id := range c.schemas {
		out = append(out, string(id))
	}
	slices.Sort(out)
	return out
}

// Resolve returns the definition a full reference names: "nsid" or
// "nsid#main" for a main def, "nsid#name" for another.
func (c *Catalog) Resolve(ref string) (*Def, error) {
	if d, ok := c.defs[strings.TrimSuffix(ref, "#main")]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownSchema, ref)
}

// main returns the main def of an NSID, which must be of kind k.
func (c *Catalog) main(nsid string, kinds ...kind) (*Def, error) {
	d, ok := c.defs[nsid]
	if !ok || strings.Contains(nsid, "#") {
		return nil, fmt.Errorf("%w: %s", ErrUnknownSchema, nsid)
	}
	if !slices.Contains(kinds, d.kind) {
		return nil, fmt.Errorf("%w: %s is a %s", ErrWrongSchemaType, nsid, d.Type)
	}
	return d, nil
}

// CheckRefs reports every reference in the catalog that does not resolve, or
// resolves to a definition it may not point at: a ref must not name a token
// or an XRPC method, and a union's variants must be objects or records.
// Loading does not require references to resolve, since documents may be
// loaded in any order; call CheckRefs once everything is loaded.
func (c *Catalog) CheckRefs() error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(c.schemas)) {
		s := c.schemas[id]
		for _, name := range slices.Sorted(maps.Keys(s.Defs)) {
			c.checkRefs(s.Defs[name], string(id)+"#"+name, &errs)
		}
	}
	return errors.Join(errs...)
}

func (c *Catalog) checkRefs(d *Def, where string, errs *[]error) {
	if d == nil {
		return
	}
	switch d.kind {
	case kindRef:
		t, ok := c.defs[d.fullRef]
		switch {
		case !ok:
			*errs = append(*errs, fmt.Errorf("%w: %s: ref %s does not resolve", ErrUnknownSchema, where, d.Ref))
		case t.kind == kindToken || t.kind.primary() && t.kind != kindRecord:
			*errs = append(*errs, fmt.Errorf("%w: %s: ref %s points at a %s", ErrInvalidSchema, where, d.Ref, t.Type))
		}
	case kindUnion:
		for i, r := range d.fullRefs {
			t, ok := c.defs[r]
			switch {
			case !ok:
				*errs = append(*errs, fmt.Errorf("%w: %s: union ref %s does not resolve", ErrUnknownSchema, where, d.Refs[i]))
			case t.kind != kindObject && t.kind != kindRecord:
				*errs = append(*errs, fmt.Errorf("%w: %s: union ref %s points at a %s", ErrInvalidSchema, where, d.Refs[i], t.Type))
			}
		}
	case kindArray:
		c.checkRefs(d.Items, where+"/items", errs)
	case kindObject, kindParams:
		for _, p := range d.props {
			c.checkRefs(p.def, where+"/"+p.name, errs)
		}
	case kindRecord:
		c.checkRefs(d.Record, where+"/record", errs)
	case kindQuery, kindProcedure, kindSubscription:
		c.checkRefs(d.Parameters, where+"/parameters", errs)
		for _, b := range []*Body{d.Input, d.Output, d.Message} {
			if b != nil {
				c.checkRefs(b.Schema, where+"/body", errs)
			}
		}
	}
}
