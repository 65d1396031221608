package lexicon

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/conflux-atproto/conflux/repo/syntax"
)

// Schema is one Lexicon schema document: an NSID and its named definitions.
// Obtain one from ParseSchema, which checks it; a Schema is read-only once
// parsed.
type Schema struct {
	Lexicon     int             `json:"lexicon"`
	ID          syntax.NSID     `json:"-"`
	Description string          `json:"description,omitempty"`
	Defs        map[string]*Def `json:"defs"`
}

// Def is one schema definition: a named def, or a nested one (an object's
// property, an array's items, a record's object). Which fields mean anything
// depends on Type; the rest stay zero. Const, Default and Enum hold bool,
// int64 or string values matching Type.
type Def struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`

	// record
	Key    string `json:"key,omitempty"`
	Record *Def   `json:"record,omitempty"`

	// query, procedure, subscription
	Parameters *Def        `json:"parameters,omitempty"`
	Input      *Body       `json:"input,omitempty"`
	Output     *Body       `json:"output,omitempty"`
	Message    *Body       `json:"message,omitempty"`
	Errors     []XRPCError `json:"errors,omitempty"`

	// permission-set
	Title       string       `json:"title,omitempty"`
	Detail      string       `json:"detail,omitempty"`
	Permissions []Permission `json:"permissions,omitempty"`

	// array
	Items *Def `json:"items,omitempty"`

	// object, params
	Properties map[string]*Def `json:"properties,omitempty"`
	Required   []string        `json:"required,omitempty"`
	Nullable   []string        `json:"nullable,omitempty"`

	// scalar constraints. Lengths of strings are UTF-8 bytes.
	Format       string   `json:"format,omitempty"`
	MinLength    *int64   `json:"minLength,omitempty"`
	MaxLength    *int64   `json:"maxLength,omitempty"`
	MinGraphemes *int64   `json:"minGraphemes,omitempty"`
	MaxGraphemes *int64   `json:"maxGraphemes,omitempty"`
	Minimum      *int64   `json:"minimum,omitempty"`
	Maximum      *int64   `json:"maximum,omitempty"`
	KnownValues  []string `json:"knownValues,omitempty"`
	Const        any      `json:"-"`
	Default      any      `json:"-"`
	Enum         []any    `json:"-"`

	// blob
	Accept  []string `json:"accept,omitempty"`
	MaxSize *int64   `json:"maxSize,omitempty"`

	// ref, union: references as written ("#local", "nsid", "nsid#name")
	Ref    string   `json:"ref,omitempty"`
	Refs   []string `json:"refs,omitempty"`
	Closed bool     `json:"closed,omitempty"`

	// Filled in by ParseSchema.
	kind     kind
	name     string     // full reference of a named def: "nsid" for main, else "nsid#name"
	fullRef  string     // ref, resolved against the document's NSID
	fullRefs []string   // refs, likewise
	props    []property // Properties sorted by name, for deterministic errors
	nullable map[string]bool
	format   func(string) error
	cStr     *string
	cInt     *int64
	cBool    *bool
	enumStr  []string
	enumInt  []int64
}

// property is one entry of an object's or params' Properties.
type property struct {
	name string
	def  *Def
}

// Body is the input or output of an XRPC method, or a subscription message.
type Body struct {
	Description string `json:"description,omitempty"`
	Encoding    string `json:"encoding,omitempty"`
	Schema      *Def   `json:"schema,omitempty"`
}

// XRPCError is an error name an XRPC method declares.
type XRPCError struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Permission is one entry of a permission-set. Action may be written as a
// string or an array in JSON; it is always a slice here.
type Permission struct {
	Type       string   `json:"type"`
	Resource   string   `json:"resource"`
	Collection []string `json:"collection,omitempty"`
	Action     []string `json:"-"`
	LXM        []string `json:"lxm,omitempty"`
	Aud        string   `json:"aud,omitempty"`
	InheritAud bool     `json:"inheritAud,omitempty"`
	Accept     []string `json:"accept,omitempty"`
	Attr       string   `json:"attr,omitempty"`
}

// kind is Def.Type as a small integer, for the validator's switch.
type kind uint8

const (
	kindInvalid kind = iota
	kindNull
	kindBoolean
	kindInteger
	kindString
	kindBytes
	kindCIDLink
	kindBlob
	kindArray
	kindObject
	kindParams
	kindToken
	kindRef
	kindUnion
	kindUnknown
	kindRecord
	kindQuery
	kindProcedure
	kindSubscription
	kindPermissionSet
	kindPermission
)

var kindByType = map[string]kind{
	"null":           kindNull,
	"boolean":        kindBoolean,
	"integer":        kindInteger,
	"string":         kindString,
	"bytes":          kindBytes,
	"cid-link":       kindCIDLink,
	"blob":           kindBlob,
	"array":          kindArray,
	"object":         kindObject,
	"params":         kindParams,
	"token":          kindToken,
	"ref":            kindRef,
	"union":          kindUnion,
	"unknown":        kindUnknown,
	"record":         kindRecord,
	"query":          kindQuery,
	"procedure":      kindProcedure,
	"subscription":   kindSubscription,
	"permission-set": kindPermissionSet,
	"permission":     kindPermission,
}

// primary reports whether k may only be the main def of a document.
func (k kind) primary() bool {
	switch k {
	case kindRecord, kindQuery, kindProcedure, kindSubscription, kindPermissionSet:
		return true
	}
	return false
}

// ParseSchema parses and checks one Lexicon schema document. References to
// other documents are not resolved here; see Catalog.CheckRefs.
func ParseSchema(data []byte) (*Schema, error) {
	var raw struct {
		Lexicon     *int            `json:"lexicon"`
		ID          *string         `json:"id"`
		Description string          `json:"description"`
		Defs        map[string]*Def `json:"defs"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the schema document", ErrInvalidSchema)
	}
	if raw.Lexicon == nil || *raw.Lexicon != 1 {
		return nil, fmt.Errorf("%w: lexicon version must be 1", ErrInvalidSchema)
	}
	if raw.ID == nil {
		return nil, fmt.Errorf("%w: missing id", ErrInvalidSchema)
	}
	id, err := syntax.ParseNSID(*raw.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: id: %w", ErrInvalidSchema, err)
	}
	s := &Schema{Lexicon: 1, ID: id, Description: raw.Description, Defs: raw.Defs}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// UnmarshalJSON parses a definition, reading const, default and enum as the
// JSON types that match the definition's type.
func (d *Def) UnmarshalJSON(b []byte) error {
	type plain Def // drops this method, so the decode below does not recurse
	aux := struct {
		*plain
		Const   json.RawMessage `json:"const"`
		Default json.RawMessage `json:"default"`
		Enum    json.RawMessage `json:"enum"`
	}{plain: (*plain)(d)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&aux); err != nil {
		return err
	}
	var err error
	if d.Const, err = scalar(d.Type, aux.Const); err != nil {
		return fmt.Errorf("const: %w", err)
	}
	if d.Default, err = scalar(d.Type, aux.Default); err != nil {
		return fmt.Errorf("default: %w", err)
	}
	if len(aux.Enum) > 0 && !bytes.Equal(aux.Enum, []byte("null")) {
		var items []json.RawMessage
		if err := json.Unmarshal(aux.Enum, &items); err != nil {
			return fmt.Errorf("enum: %w", err)
		}
		d.Enum = make([]any, 0, len(items))
		for _, it := range items {
			v, err := scalar(d.Type, it)
			if err != nil || v == nil {
				return fmt.Errorf("enum: value %s does not fit type %q", it, d.Type)
			}
			d.Enum = append(d.Enum, v)
		}
	}
	return nil
}

// scalar decodes a const, default or enum value for a def of type typ:
// a bool for boolean, an int64 for integer, a string for string. Absent or
// null gives nil.
func scalar(typ string, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch typ {
	case "boolean":
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return v, nil
	case "integer":
		var v int64
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return v, nil
	case "string":
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("not allowed on type %q", typ)
}

// UnmarshalJSON accepts action as a single string or an array of strings.
func (p *Permission) UnmarshalJSON(b []byte) error {
	type plain Permission
	aux := struct {
		*plain
		Action json.RawMessage `json:"action"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if len(aux.Action) == 0 || bytes.Equal(aux.Action, []byte("null")) {
		return nil
	}
	var one string
	if err := json.Unmarshal(aux.Action, &one); err == nil {
		p.Action = []string{one}
		return nil
	}
	if err := json.Unmarshal(aux.Action, &p.Action); err != nil {
		return fmt.Errorf("action: %w", err)
	}
	return nil
}
