package dagcbor

import (
	"fmt"
	"math"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// modes holds the fxamacker encoder and decoder. They are immutable and safe
// for concurrent use; building them is deterministic, so doing it once, lazily,
// has no observable side effect.
type modes struct {
	enc cbor.EncMode
	dec cbor.DecMode
}

var getModes = sync.OnceValues(newModes)

func newModes() (modes, error) {
	enc, err := cbor.EncOptions{
		// Length-first is the DAG-CBOR (RFC 7049 canonical) key order.
		Sort:        cbor.SortLengthFirst,
		IndefLength: cbor.IndefLengthForbidden,
		// A nil Go slice or map is an empty one, as cbor-gen writes it; use a
		// pointer or omitempty for null or absent.
		NilContainers: cbor.NilContainerAsEmpty,
		// Links carry their own tag 42 (cid.CID.MarshalCBOR).
		TagsMd: cbor.TagsAllowed,
		// atproto datetimes are strings; the default would write integers.
		Time:    cbor.TimeRFC3339Nano,
		TimeTag: cbor.EncTagNone,
	}.EncMode()
	if err != nil {
		return modes{}, fmt.Errorf("dagcbor: encoder options: %w", err)
	}

	// Registering cid.CID under tag 42 makes fxamacker build a cid.CID (through
	// its UnmarshalCBOR) when it meets a link while decoding into `any`.
	tags := cbor.NewTagSet()
	err = tags.Add(cbor.TagOptions{DecTag: cbor.DecTagRequired, EncTag: cbor.EncTagNone},
		reflect.TypeFor[cid.CID](), tagLink)
	if err != nil {
		return modes{}, fmt.Errorf("dagcbor: tag 42: %w", err)
	}
	dec, err := cbor.DecOptions{
		// Valid has already enforced the real limits (and the canonical form)
		// before fxamacker sees the bytes, so its own limits are set wide open
		// rather than kept in step with every Limits value.
		MaxNestedLevels:  65535,
		MaxArrayElements: math.MaxInt32,
		MaxMapPairs:      math.MaxInt32,
		DupMapKey:        cbor.DupMapKeyQuiet,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsAllowed,
		IntDec:           cbor.IntDecConvertSigned,
		DefaultMapType:   reflect.TypeFor[map[string]any](),
		UTF8:             cbor.UTF8RejectInvalid,
		// Map keys name struct fields exactly: "Langs" is not "langs".
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}.DecModeWithTags(tags)
	if err != nil {
		return modes{}, fmt.Errorf("dagcbor: decoder options: %w", err)
	}
	return modes{enc: enc, dec: dec}, nil
}

// Marshal returns the canonical DAG-CBOR encoding of v: a generic data-model
// value or a struct with `cbor` tags. The output is checked with Valid, so
// Marshal refuses anything Unmarshal would reject: floats, non-text map keys,
// integers above the signed 64-bit range, invalid UTF-8, tags other than links.
//
// v must not contain a cycle: fxamacker follows it until the stack overflows.
// Values from Unmarshal and FromJSON never have one.
func Marshal(v any) ([]byte, error) {
	m, err := getModes()
	if err != nil {
		return nil, err
	}
	b, err := m.enc.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("dagcbor: encode %T: %w", v, err)
	}
	if err := encodeLimits.Valid(b); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// Unmarshal decodes one canonical DAG-CBOR item into v within the default
// limits. See Limits.Unmarshal.
func Unmarshal(data []byte, v any) error { return Limits{}.Unmarshal(data, v) }

// Unmarshal decodes one canonical DAG-CBOR item into v, a non-nil pointer. The
// bytes are first checked with Valid, so non-canonical input, input outside
// the data model and input over the limits are all rejected before anything
// is allocated for them.
//
// Decoding into *any gives the generic model: nil, bool, int64, string,
// []byte, []any, map[string]any, and cid.CID for links. Struct fields are
// matched by their `cbor` tag names; unknown keys are ignored.
func (l Limits) Unmarshal(data []byte, v any) error {
	if err := l.Valid(data); err != nil {
		return err
	}
	m, err := getModes()
	if err != nil {
		return err
	}
	if err := m.dec.Unmarshal(data, v); err != nil {
		return fmt.Errorf("dagcbor: decode into %T: %w", v, err)
	}
	// fxamacker leaves a top-level link as *cid.CID in an interface (nested
	// ones are values); make it a value like everywhere else.
	if p, ok := v.(*any); ok {
		if c, ok := (*p).(*cid.CID); ok {
			*p = *c
		}
	}
	return nil
}
