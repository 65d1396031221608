package lexicon

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/conflux-atproto/conflux/repo/syntax"
)

// check validates the document against the rules of the Lexicon language and
// fills in each def's derived fields (kind, full references, sorted
// properties, format checker).
func (s *Schema) check() error {
	if err := s.checkDefs(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidSchema, s.ID, err)
	}
	return nil
}

func (s *Schema) checkDefs() error {
	if s.Lexicon != 1 {
		return errors.New("lexicon version must be 1")
	}
	if _, err := syntax.ParseNSID(string(s.ID)); err != nil {
		return err
	}
	if len(s.Defs) == 0 {
		return errors.New("a schema needs at least one def")
	}
	for _, name := range slices.Sorted(maps.Keys(s.Defs)) {
		d := s.Defs[name]
		if !validDefName(name) {
			return fmt.Errorf("def name %q is invalid", name)
		}
		if d == nil {
			return fmt.Errorf("def %s is null", name)
		}
		d.kind = kindByType[d.Type]
		switch {
		case d.kind.primary() && name != "main":
			return fmt.Errorf("def %s: a %s must be the main def", name, d.Type)
		case d.kind == kindParams, d.kind == kindPermission, d.kind == kindRef,
			d.kind == kindUnion, d.kind == kindUnknown:
			return fmt.Errorf("def %s: type %s cannot be a named def", name, d.Type)
		}
		d.name = string(s.ID)
		if name != "main" {
			d.name += "#" + name
		}
		c := checker{id: s.ID}
		if err := c.def(d, true); err != nil {
			return fmt.Errorf("def %s: %w", name, err)
		}
	}
	return nil
}

// validDefName accepts the names real schemas use: a letter, then letters,
// digits, '_' or '-'.
func validDefName(name string) bool {
	if name == "" || !isASCIILetter(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !isASCIILetter(c) && !(c >= '0' && c <= '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// checker walks the defs of one document.
type checker struct {
	id syntax.NSID
}

// def checks one definition and its nested ones. top is true for a named def.
func (c checker) def(d *Def, top bool) error {
	if d == nil {
		return errors.New("missing definition")
	}
	d.kind = kindByType[d.Type]
	if d.kind == kindInvalid {
		return fmt.Errorf("unknown type %q", d.Type)
	}
	if !top && (d.kind.primary() || d.kind == kindToken) {
		return fmt.Errorf("type %s can only be a named def", d.Type)
	}
	if d.Const != nil && d.Default != nil {
		return errors.New("const and default are mutually exclusive")
	}
	switch d.kind {
	case kindInteger:
		return c.integer(d)
	case kindString:
		return c.str(d)
	case kindBytes:
		return checkRange("length", d.MinLength, d.MaxLength)
	case kindBlob:
		return c.blob(d)
	case kindArray:
		return c.array(d)
	case kindObject, kindParams:
		return c.object(d)
	case kindRef:
		r, err := c.ref(d.Ref)
		d.fullRef = r
		return err
	case kindUnion:
		return c.union(d)
	case kindRecord:
		return c.record(d)
	case kindQuery, kindProcedure, kindSubscription:
		return c.xrpc(d)
	case kindPermissionSet:
		return c.permissionSet(d)
	case kindPermission:
		return errors.New("a permission can only appear in a permission-set")
	}
	return nil
}

func (c checker) integer(d *Def) error {
	if d.Minimum != nil && d.Maximum != nil && *d.Minimum > *d.Maximum {
		return errors.New("minimum above maximum")
	}
	if v, ok := d.Const.(int64); ok {
		d.cInt = &v
	}
	d.enumInt = nil
	for _, e := range d.Enum {
		n, ok := e.(int64)
		if !ok {
			return fmt.Errorf("enum value %v is not an integer", e)
		}
		d.enumInt = append(d.enumInt, n)
	}
	return nil
}

func (c checker) str(d *Def) error {
	if err := checkRange("length", d.MinLength, d.MaxLength); err != nil {
		return err
	}
	if err := checkRange("graphemes", d.MinGraphemes, d.MaxGraphemes); err != nil {
		return err
	}
	if d.Format != "" {
		f, ok := formats[d.Format]
		if !ok {
			return fmt.Errorf("unknown string format %q", d.Format)
		}
		d.format = f
	}
	if v, ok := d.Const.(string); ok {
		d.cStr = &v
	}
	d.enumStr = nil
	for _, e := range d.Enum {
		s, ok := e.(string)
		if !ok {
			return fmt.Errorf("enum value %v is not a string", e)
		}
		d.enumStr = append(d.enumStr, s)
	}
	return nil
}

func (c checker) blob(d *Def) error {
	if d.MaxSize != nil && *d.MaxSize < 0 {
		return errors.New("blob maxSize below zero")
	}
	for _, a := range d.Accept {
		if !validAcceptPattern(a) {
			return fmt.Errorf("blob accept pattern %q is invalid", a)
		}
	}
	return nil
}

// validAcceptPattern accepts "type/subtype", "type/*" and "*/*".
func validAcceptPattern(p string) bool {
	typ, sub, ok := strings.Cut(p, "/")
	if !ok || typ == "" || sub == "" || strings.Contains(sub, "/") {
		return false
	}
	if typ == "*" {
		return sub == "*"
	}
	return !strings.Contains(typ, "*") && (sub == "*" || !strings.Contains(sub, "*"))
}

func (c checker) array(d *Def) error {
	if err := checkRange("length", d.MinLength, d.MaxLength); err != nil {
		return err
	}
	if d.Items == nil {
		return errors.New("array needs items")
	}
	if err := c.def(d.Items, false); err != nil {
		return fmt.Errorf("items: %w", err)
	}
	return nil
}

func (c checker) object(d *Def) error {
	d.props = make([]property, 0, len(d.Properties))
	for _, name := range slices.Sorted(maps.Keys(d.Properties)) {
		p := d.Properties[name]
		if name == "" {
			return errors.New("empty property name")
		}
		if err := c.def(p, false); err != nil {
			return fmt.Errorf("property %s: %w", name, err)
		}
		if d.kind == kindParams && !paramType(p) {
			return fmt.Errorf("property %s: params can only be boolean, integer, string, unknown or arrays of those", name)
		}
		if d.kind == kindObject && (p.kind == kindParams || p.kind == kindPermission) {
			return fmt.Errorf("property %s: type %s is not a field type", name, p.Type)
		}
		d.props = append(d.props, property{name: name, def: p})
	}
	for _, r := range d.Required {
		if _, ok := d.Properties[r]; !ok {
			return fmt.Errorf("required field %q is not a property", r)
		}
	}
	if len(d.Nullable) > 0 && d.kind == kindParams {
		return errors.New("params cannot be nullable")
	}
	for _, n := range d.Nullable {
		if _, ok := d.Properties[n]; !ok {
			return fmt.Errorf("nullable field %q is not a property", n)
		}
		if d.nullable == nil {
			d.nullable = make(map[string]bool, len(d.Nullable))
		}
		d.nullable[n] = true
	}
	return nil
}

func paramType(p *Def) bool {
	switch p.kind {
	case kindBoolean, kindInteger, kindString, kindUnknown:
		return true
	case kindArray:
		switch p.Items.kind {
		case kindBoolean, kindInteger, kindString, kindUnknown:
			return true
		}
	}
	return false
}

// ref checks a reference and returns it in full form: "nsid" for a main def,
// "nsid#name" otherwise.
func (c checker) ref(r string) (string, error) {
	full, err := resolveRef(c.id, r)
	if err != nil {
		return "", err
	}
	return full, nil
}

// resolveRef turns a reference as written in a schema into its full form.
func resolveRef(base syntax.NSID, r string) (string, error) {
	nsid, name, hasName := strings.Cut(r, "#")
	if hasName && !validDefName(name) {
		return "", fmt.Errorf("reference %q: invalid def name", r)
	}
	if nsid == "" {
		if !hasName {
			return "", errors.New("empty reference")
		}
		nsid = string(base)
	} else if _, err := syntax.ParseNSID(nsid); err != nil {
		return "", fmt.Errorf("reference %q: %w", r, err)
	}
	if !hasName || name == "main" {
		return nsid, nil
	}
	return nsid + "#" + name, nil
}

func (c checker) union(d *Def) error {
	if d.Closed && len(d.Refs) == 0 {
		return errors.New("a closed union needs refs")
	}
	d.fullRefs = make([]string, 0, len(d.Refs))
	for _, r := range d.Refs {
		full, err := c.ref(r)
		if err != nil {
			return err
		}
		if slices.Contains(d.fullRefs, full) {
			return fmt.Errorf("union lists %q twice", r)
		}
		d.fullRefs = append(d.fullRefs, full)
	}
	return nil
}

func (c checker) record(d *Def) error {
	if err := checkRecordKeyType(d.Key); err != nil {
		return err
	}
	if d.Record == nil {
		return errors.New("record needs a record object")
	}
	if d.Record.Type != "object" {
		return errors.New("record must be of type object")
	}
	if err := c.def(d.Record, false); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}

// checkRecordKeyType accepts the record key types of the spec: tid, nsid,
// any, and literal:<record key>.
func checkRecordKeyType(key string) error {
	switch key {
	case "tid", "nsid", "any":
		return nil
	}
	if lit, ok := strings.CutPrefix(key, "literal:"); ok {
		if _, err := syntax.ParseRecordKey(lit); err != nil {
			return fmt.Errorf("record key type %q: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("record key type %q is invalid", key)
}

func (c checker) xrpc(d *Def) error {
	if d.Parameters != nil {
		if d.Parameters.Type != "params" {
			return errors.New("parameters must be of type params")
		}
		if err := c.def(d.Parameters, false); err != nil {
			return fmt.Errorf("parameters: %w", err)
		}
	}
	if d.Input != nil && d.kind != kindProcedure {
		return fmt.Errorf("a %s has no input", d.Type)
	}
	if d.kind == kindSubscription {
		if d.Output != nil {
			return errors.New("a subscription has no output")
		}
		if d.Message == nil || d.Message.Schema == nil {
			return errors.New("a subscription needs a message schema")
		}
		if d.Message.Schema.Type != "union" {
			return errors.New("a subscription message schema must be a union")
		}
		if err := c.def(d.Message.Schema, false); err != nil {
			return fmt.Errorf("message: %w", err)
		}
	} else if d.Message != nil {
		return fmt.Errorf("a %s has no message", d.Type)
	}
	if err := c.body("input", d.Input); err != nil {
		return err
	}
	if err := c.body("output", d.Output); err != nil {
		return err
	}
	for _, e := range d.Errors {
		if e.Name == "" || strings.ContainsAny(e.Name, " \t\r\n") {
			return fmt.Errorf("error name %q is invalid", e.Name)
		}
	}
	return nil
}

func (c checker) body(what string, b *Body) error {
	if b == nil {
		return nil
	}
	if b.Encoding == "" {
		return fmt.Errorf("%s needs an encoding", what)
	}
	if b.Schema == nil {
		return nil
	}
	switch b.Schema.Type {
	case "object", "ref", "union":
	default:
		return fmt.Errorf("%s schema must be an object, ref or union", what)
	}
	if err := c.def(b.Schema, false); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (c checker) permissionSet(d *Def) error {
	for i, p := range d.Permissions {
		if p.Type != "permission" {
			return fmt.Errorf("permissions[%d]: type must be permission", i)
		}
		if p.Resource == "" {
			return fmt.Errorf("permissions[%d]: missing resource", i)
		}
	}
	return nil
}

// checkRange checks optional min and max bounds: both non-negative, min <= max.
func checkRange(what string, lo, hi *int64) error {
	if (lo != nil && *lo < 0) || (hi != nil && *hi < 0) {
		return fmt.Errorf("%s bound below zero", what)
	}
	if lo != nil && hi != nil && *lo > *hi {
		return fmt.Errorf("%s minimum above maximum", what)
	}
	return nil
}
