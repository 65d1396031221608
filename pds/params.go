package pds

import (
	"fmt"
	"strconv"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// object is a JSON input body decoded in the data model, with typed getters
// that name the field in their errors.
type object map[string]any

func (o object) str(key string, required bool) (string, error) {
	v, ok := o[key]
	if !ok || v == nil {
		if required {
			return "", fmt.Errorf("%w: input/%s is required", ErrInvalidRequest, key)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: input/%s must be a string", ErrInvalidRequest, key)
	}
	if s == "" && required {
		return "", fmt.Errorf("%w: input/%s is required", ErrInvalidRequest, key)
	}
	return s, nil
}

// cidStr reads an optional CID given as a string (the lexicons' "cid"
// format: swapRecord, swapCommit).
func (o object) cidStr(key string) (cid.CID, error) {
	s, err := o.str(key, false)
	if err != nil || s == "" {
		return cid.Undef, err
	}
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: input/%s: %w", ErrInvalidRequest, key, err)
	}
	return c, nil
}

// validation reads the optional boolean validate field.
func (o object) validation() (Validation, error) {
	v, ok := o["validate"]
	if !ok || v == nil {
		return ValidateAuto, nil
	}
	b, ok := v.(bool)
	if !ok {
		return 0, fmt.Errorf("%w: input/validate must be a boolean", ErrInvalidRequest)
	}
	if b {
		return ValidateOn, nil
	}
	return ValidateOff, nil
}

func (o object) record(key string) (map[string]any, error) {
	v, ok := o[key]
	if !ok || v == nil {
		return nil, fmt.Errorf("%w: %s: missing", ErrInvalidRecord, key)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s: must be an object", ErrInvalidRecord, key)
	}
	return m, nil
}

// parseLimit parses an XRPC limit parameter: def when empty, else an
// integer in [1, max].
func parseLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("%w: limit must be an integer from 1 to %d", ErrInvalidRequest, max)
	}
	return n, nil
}

// parseBool parses an XRPC boolean parameter: "true" or "false" (empty is
// false).
func parseBool(name, s string) (bool, error) {
	switch s {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("%w: %s must be true or false", ErrInvalidRequest, name)
}

// parseUIDCursor parses listRepos' cursor: the decimal uid of the last
// account of the previous page ("" is the start).
func parseUIDCursor(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%w: bad cursor", ErrInvalidRequest)
	}
	return n, nil
}
