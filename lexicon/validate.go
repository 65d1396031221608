package lexicon

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// maxDepth bounds how deep the validator follows nested data. The decoders
// already bound nesting (dagcbor: 64 levels); this guards data built in
// memory, such as a cyclic []any.
const maxDepth = 256

// ValidateRecord checks a record, in the generic data model of package
// dagcbor, against the record schema of its collection. The record's $type
// must equal the collection, and every value must be well formed in the data
// model (blobs complete, and so on) even where the schema does not look.
//
// A collection the catalog does not know gives an error wrapping
// ErrUnknownSchema; invalid data gives a *ValidationError named
// InvalidRecord whose path starts at "record".
func (c *Catalog) ValidateRecord(collection string, rec map[string]any) error {
	def, err := c.main(collection, kindRecord)
	if err != nil {
		return err
	}
	v := validator{cat: c, name: ErrNameInvalidRecord}
	typ, present := rec["$type"]
	if !present {
		return at(v.fail("missing $type"), "record/$type")
	}
	if s, ok := typ.(string); !ok {
		return at(v.fail("expected a string, got %s", describe(typ)), "record/$type")
	} else if s != collection {
		return at(v.fail("$type %q does not match collection %s", s, collection), "record/$type")
	}
	if err := dagcbor.Check(rec); err != nil {
		return at(v.fail("%v", err), "record")
	}
	return at(v.value(def.Record, rec), "record")
}

// ValidateRecordKey checks a record key against the key type the
// collection's schema declares (tid, nsid, any or literal:<value>).
func (c *Catalog) ValidateRecordKey(collection, rkey string) error {
	def, err := c.main(collection, kindRecord)
	if err != nil {
		return err
	}
	v := validator{name: ErrNameInvalidRecord}
	if _, perr := syntax.ParseRecordKey(rkey); perr != nil {
		err = v.fail("%v", perr)
	} else {
		switch def.Key {
		case "tid":
			if _, perr := syntax.ParseTID(rkey); perr != nil {
				err = v.fail("%s record keys must be TIDs: %v", collection, perr)
			}
		case "nsid":
			if _, perr := syntax.ParseNSID(rkey); perr != nil {
				err = v.fail("%s record keys must be NSIDs: %v", collection, perr)
			}
		case "any":
		default:
			if lit := strings.TrimPrefix(def.Key, "literal:"); rkey != lit {
				err = v.fail("%s record key must be %q", collection, lit)
			}
		}
	}
	if err != nil {
		return at(err, "rkey")
	}
	return nil
}

// validator walks data alongside its schema.
type validator struct {
	cat   *Catalog
	name  string // XRPC error name for failures
	depth int
}

// fail reports a problem with the value being checked; callers add the path
// with at as the error returns.
func (v *validator) fail(format string, args ...any) error {
	return &ValidationError{Name: v.name, Message: fmt.Sprintf(format, args...)}
}

// value checks x against d.
func (v *validator) value(d *Def, x any) error {
	switch d.kind {
	case kindNull:
		if x != nil {
			return v.fail("expected null, got %s", describe(x))
		}
	case kindBoolean:
		b, ok := x.(bool)
		if !ok {
			return v.fail("expected a boolean, got %s", describe(x))
		}
		if c, ok := d.Const.(bool); ok && b != c {
			return v.fail("must be %t", c)
		}
	case kindInteger:
		n, ok := toInt64(x)
		if !ok {
			return v.fail("expected an integer, got %s", describe(x))
		}
		return v.integer(d, n)
	case kindString:
		s, ok := x.(string)
		if !ok {
			return v.fail("expected a string, got %s", describe(x))
		}
		return v.str(d, s)
	case kindBytes:
		b, ok := x.([]byte)
		if !ok {
			return v.fail("expected bytes, got %s", describe(x))
		}
		if err := v.length(d, len(b), "bytes"); err != nil {
			return err
		}
	case kindCIDLink:
		if l, ok := x.(cid.CID); !ok || !l.Defined() {
			return v.fail("expected a link, got %s", describe(x))
		}
	case kindBlob:
		return v.blob(d, x)
	case kindArray:
		return v.array(d, x)
	case kindObject, kindParams:
		m, ok := x.(map[string]any)
		if !ok {
			return v.fail("expected an object, got %s", describe(x))
		}
		return v.object(d, m)
	case kindRef:
		t, ok := v.cat.defs[d.fullRef]
		if !ok {
			return v.fail("schema %s is not in the catalog", d.fullRef)
		}
		return v.value(t, x)
	case kindUnion:
		return v.union(d, x)
	case kindUnknown:
		return v.unknown(x)
	case kindToken:
		if s, ok := x.(string); !ok || s != d.name {
			return v.fail("expected the token %s, got %s", d.name, describe(x))
		}
	case kindRecord:
		return v.value(d.Record, x)
	default:
		return v.fail("a %s schema does not describe data", d.Type)
	}
	return nil
}

func (v *validator) integer(d *Def, n int64) error {
	if d.cInt != nil && n != *d.cInt {
		return v.fail("must be %d", *d.cInt)
	}
	if d.Minimum != nil && n < *d.Minimum {
		return v.fail("%d is below the minimum %d", n, *d.Minimum)
	}
	if d.Maximum != nil && n > *d.Maximum {
		return v.fail("%d is above the maximum %d", n, *d.Maximum)
	}
	if d.enumInt != nil && !slices.Contains(d.enumInt, n) {
		return v.fail("%d is not one of %v", n, d.enumInt)
	}
	return nil
}

func (v *validator) str(d *Def, s string) error {
	if d.cStr != nil && s != *d.cStr {
		return v.fail("must be %q", *d.cStr)
	}
	if err := v.length(d, len(s), "bytes"); err != nil {
		return err
	}
	if d.MinGraphemes != nil || d.MaxGraphemes != nil {
		if n, ok := graphemesWithin(s, d.MinGraphemes, d.MaxGraphemes); !ok {
			return v.fail("%d graphemes, %s", n, bounds(d.MinGraphemes, d.MaxGraphemes))
		}
	}
	if d.enumStr != nil && !slices.Contains(d.enumStr, s) {
		return v.fail("%q is not one of %q", s, d.enumStr)
	}
	if d.format != nil {
		if err := d.format(s); err != nil {
			return v.fail("not a valid %s: %v", d.Format, err)
		}
	}
	return nil
}

// length checks a string's bytes, a byte string's size or an array's
// elements against minLength and maxLength.
func (v *validator) length(d *Def, n int, unit string) error {
	if (d.MinLength != nil && int64(n) < *d.MinLength) || (d.MaxLength != nil && int64(n) > *d.MaxLength) {
		return v.fail("%d %s, %s", n, unit, bounds(d.MinLength, d.MaxLength))
	}
	return nil
}

func bounds(lo, hi *int64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("must be %d to %d", *lo, *hi)
	case lo != nil:
		return fmt.Sprintf("must be at least %d", *lo)
	case hi != nil:
		return fmt.Sprintf("must be at most %d", *hi)
	}
	return "out of range"
}

func (v *validator) array(d *Def, x any) error {
	a, ok := x.([]any)
	if !ok {
		return v.fail("expected an array, got %s", describe(x))
	}
	if err := v.length(d, len(a), "elements"); err != nil {
		return err
	}
	if v.depth++; v.depth > maxDepth {
		return v.fail("nested deeper than %d", maxDepth)
	}
	for i, e := range a {
		if err := v.value(d.Items, e); err != nil {
			return atIndex(err, i)
		}
	}
	v.depth--
	return nil
}

func (v *validator) object(d *Def, m map[string]any) error {
	if v.depth++; v.depth > maxDepth {
		return v.fail("nested deeper than %d", maxDepth)
	}
	for _, r := range d.Required {
		if _, ok := m[r]; !ok {
			return at(v.fail("required field missing"), r)
		}
	}
	for _, prop := range d.props {
		x, ok := m[prop.name]
		if !ok || (x == nil && d.nullable[prop.name]) {
			continue
		}
		if err := v.value(prop.def, x); err != nil {
			return at(err, prop.name)
		}
	}
	v.depth--
	return nil
}

func (v *validator) union(d *Def, x any) error {
	m, ok := x.(map[string]any)
	if !ok {
		return v.fail("expected an object with a $type, got %s", describe(x))
	}
	tv, present := m["$type"]
	typ, ok := tv.(string)
	if !present || !ok || typ == "" {
		return v.fail("a union member needs a $type")
	}
	if strings.HasSuffix(typ, "#main") {
		return v.fail("$type %q must not end in #main", typ)
	}
	if slices.Contains(d.fullRefs, typ) {
		t, ok := v.cat.defs[typ]
		if !ok {
			return v.fail("schema %s is not in the catalog", typ)
		}
		return v.value(t, x)
	}
	if d.Closed {
		return v.fail("$type %s is not one of %v", typ, d.Refs)
	}
	// An open union admits types this schema does not list. Check the ones
	// the catalog knows anyway; pass the rest, as newer schemas may add them.
	if t, ok := v.cat.defs[typ]; ok && (t.kind == kindObject || t.kind == kindRecord) {
		return v.value(t, x)
	}
	return nil
}

func (v *validator) blob(d *Def, x any) error {
	m, ok := x.(map[string]any)
	if !ok {
		return v.fail("expected a blob, got %s", describe(x))
	}
	mime, _ := m["mimeType"].(string)
	size := int64(-1)
	if m["$type"] == "blob" {
		ref, ok := m["ref"].(cid.CID)
		if !ok || !ref.Defined() {
			return v.fail("blob ref must be a link")
		}
		n, ok := toInt64(m["size"])
		if !ok || n < 0 {
			return v.fail("blob size must be an integer of at least 0")
		}
		size = n
	} else {
		// The legacy form, {cid, mimeType}, still appears in old records.
		s, ok := m["cid"].(string)
		if !ok || !syntax.ValidCIDString(s) {
			return v.fail("expected a blob, got an object without $type blob")
		}
	}
	if mime == "" {
		return v.fail("blob mimeType must be a non-empty string")
	}
	if len(d.Accept) > 0 && !mimeAccepted(d.Accept, mime) {
		return v.fail("blob type %s is not one of %v", mime, d.Accept)
	}
	if d.MaxSize != nil && size > *d.MaxSize {
		return v.fail("blob of %d bytes is over the limit of %d", size, *d.MaxSize)
	}
	return nil
}

func (v *validator) unknown(x any) error {
	m, ok := x.(map[string]any)
	if !ok {
		return v.fail("expected an object, got %s", describe(x))
	}
	if m["$type"] == "blob" {
		return v.fail("expected an object, got a blob")
	}
	if err := dagcbor.Check(m); err != nil {
		return v.fail("%v", err)
	}
	return nil
}

// toInt64 accepts the Go integer types a hand-built generic value may hold;
// decoded values always hold int64.
func toInt64(x any) (int64, bool) {
	switch n := x.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint:
		return int64(n), uint64(n) <= math.MaxInt64
	case uint64:
		return int64(n), n <= math.MaxInt64
	}
	return 0, false
}

// describe names the data-model type of x for error messages.
func describe(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case cid.CID:
		return "a link"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	if _, ok := toInt64(x); ok {
		return "an integer"
	}
	return fmt.Sprintf("a Go %T", x)
}
