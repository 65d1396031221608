package plc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// The keys each operation type has in JSON. A missing sig means unsigned.
var (
	operationKeys = []string{"type", "rotationKeys", "verificationMethods", "alsoKnownAs", "services", "prev", "sig"}
	tombstoneKeys = []string{"type", "prev", "sig"}
	serviceKeys   = []string{"type", "endpoint"}
)

// MarshalJSON encodes op in the PLC JSON form; "sig" is omitted while
// unsigned.
func (op *Op) MarshalJSON() ([]byte, error) {
	if err := op.checkType(); err != nil {
		return nil, err
	}
	return json.Marshal(op.wire(len(op.Sig) > 0))
}

// UnmarshalJSON decodes with ParseOp.
func (op *Op) UnmarshalJSON(data []byte) error {
	parsed, err := ParseOp(data)
	if err != nil {
		return err
	}
	*op = *parsed
	return nil
}

// ParseOp decodes an operation from its JSON form. Decoding is strict: the
// keys must be exactly those of the type (sig may be missing), with exact
// case, and of the right JSON types; only prev of a plc_operation may be
// null. The result is not validated beyond its encoding: call Validate or
// VerifyOp. Errors wrap ErrInvalidOp.
func ParseOp(data []byte) (*Op, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOp, err)
	}
	if fields == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidOp)
	}
	var typ string
	if err := decodeField(fields, "type", &typ); err != nil {
		return nil, err
	}
	var keys []string
	switch typ {
	case TypeOperation:
		keys = operationKeys
	case TypeTombstone:
		keys = tombstoneKeys
	case typeLegacyCreate:
		return nil, ErrLegacyOp
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrInvalidOp, truncate(typ))
	}
	if err := checkKeys(fields, keys, "sig"); err != nil {
		return nil, err
	}
	var w opWire
	if err := decodeFields(fields, &w); err != nil {
		return nil, err
	}
	if typ == TypeOperation {
		if err := checkServiceKeys(fields["services"]); err != nil {
			return nil, err
		}
	}
	return fromWire(&w)
}

// decodeFields decodes each present field into w, refusing null everywhere
// but in prev. encoding/json would silently leave a field untouched for a
// null, which would make a null rotationKeys look like an empty list.
func decodeFields(fields map[string]json.RawMessage, w *opWire) error {
	targets := map[string]any{
		"type":                &w.Type,
		"rotationKeys":        &w.RotationKeys,
		"verificationMethods": &w.VerificationMethods,
		"alsoKnownAs":         &w.AlsoKnownAs,
		"services":            &w.Services,
		"sig":                 &w.Sig,
	}
	for name := range fields {
		if name == "prev" {
			continue
		}
		if err := decodeField(fields, name, targets[name]); err != nil {
			return err
		}
	}
	raw := fields["prev"]
	if isNull(raw) {
		if w.Type == TypeTombstone {
			return fmt.Errorf("%w: tombstone prev must not be null", ErrInvalidOp)
		}
		return nil
	}
	var prev string
	if err := json.Unmarshal(raw, &prev); err != nil {
		return fmt.Errorf("%w: prev: %w", ErrInvalidOp, err)
	}
	w.Prev = &prev
	return nil
}

func decodeField(fields map[string]json.RawMessage, name string, v any) error {
	raw, ok := fields[name]
	if !ok {
		return fmt.Errorf("%w: missing %q", ErrInvalidOp, name)
	}
	if isNull(raw) {
		return fmt.Errorf("%w: %q must not be null", ErrInvalidOp, name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrInvalidOp, name, err)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// checkKeys requires exactly the allowed keys, except that optional ones
// may be missing.
func checkKeys(fields map[string]json.RawMessage, allowed []string, optional ...string) error {
	for name := range fields {
		if !slices.Contains(allowed, name) {
			return fmt.Errorf("%w: unexpected key %q", ErrInvalidOp, truncate(name))
		}
	}
	for _, name := range allowed {
		if _, ok := fields[name]; !ok && !slices.Contains(optional, name) {
			return fmt.Errorf("%w: missing %q", ErrInvalidOp, name)
		}
	}
	return nil
}

// checkServiceKeys applies checkKeys to each service object; the typed
// decode has already proved the shape is a map of objects.
func checkServiceKeys(raw json.RawMessage) error {
	var services map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &services); err != nil {
		return fmt.Errorf("%w: services: %w", ErrInvalidOp, err)
	}
	for id, s := range services {
		if s == nil {
			return fmt.Errorf("%w: service %q must not be null", ErrInvalidOp, truncate(id))
		}
		if err := checkKeys(s, serviceKeys); err != nil {
			return fmt.Errorf("service %q: %w", truncate(id), err)
		}
		for _, k := range serviceKeys {
			if isNull(s[k]) {
				return fmt.Errorf("%w: service %q: %q must not be null", ErrInvalidOp, truncate(id), k)
			}
		}
	}
	return nil
}
