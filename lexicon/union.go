package lexicon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// errEmptyUnion: encoding a union value with no variant set.
var errEmptyUnion = errors.New("lexicon: union has no variant set")

// UnknownVariant is a union member whose $type this package has no Go type
// for. It keeps the member as it arrived, so that re-encoding it in the same
// form gives the same bytes; converting between CBOR and JSON goes through
// the generic data model.
type UnknownVariant struct {
	Type string // the member's $type
	cbor []byte // the member's DAG-CBOR, when decoded from CBOR
	json []byte // the member's JSON, when decoded from JSON
}

// Value returns the member in the generic data model of package dagcbor.
func (u *UnknownVariant) Value() (any, error) {
	if u.cbor != nil {
		var v any
		if err := dagcbor.Unmarshal(u.cbor, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	if u.json != nil {
		return dagcbor.FromJSON(u.json)
	}
	return nil, errEmptyUnion
}

// MarshalCBOR implements cbor.Marshaler.
func (u *UnknownVariant) MarshalCBOR() ([]byte, error) {
	if u.cbor != nil {
		return u.cbor, nil
	}
	v, err := u.Value()
	if err != nil {
		return nil, err
	}
	return dagcbor.Marshal(v)
}

// MarshalJSON implements json.Marshaler.
func (u *UnknownVariant) MarshalJSON() ([]byte, error) {
	if u.json != nil {
		return u.json, nil
	}
	v, err := u.Value()
	if err != nil {
		return nil, err
	}
	return dagcbor.ToJSON(v)
}

// unionTypeCBOR reads the $type of a union member encoded as DAG-CBOR.
func unionTypeCBOR(b []byte) (string, error) {
	var head struct {
		Type string `cbor:"$type"`
	}
	if err := unmarshalTyped(b, &head); err != nil {
		return "", fmt.Errorf("union member: %w", err)
	}
	if head.Type == "" {
		return "", errors.New("lexicon: union member has no $type")
	}
	return head.Type, nil
}

// unionTypeJSON reads the $type of a union member encoded as JSON.
func unionTypeJSON(b []byte) (string, error) {
	var head struct {
		Type string `json:"$type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return "", fmt.Errorf("union member: %w", err)
	}
	if head.Type == "" {
		return "", errors.New("lexicon: union member has no $type")
	}
	return head.Type, nil
}

func unionType(b []byte, isJSON bool) (string, error) {
	if isJSON {
		return unionTypeJSON(b)
	}
	return unionTypeCBOR(b)
}

// unknownVariant keeps a copy of a member of a type this package does not
// model; the decoder's buffer may be reused.
func unknownVariant(typ string, b []byte, isJSON bool) *UnknownVariant {
	if isJSON {
		return &UnknownVariant{Type: typ, json: bytes.Clone(b)}
	}
	return &UnknownVariant{Type: typ, cbor: bytes.Clone(b)}
}

func (u *UnknownVariant) encode(isJSON bool) ([]byte, error) {
	if isJSON {
		return u.MarshalJSON()
	}
	return u.MarshalCBOR()
}

// decodeVariant decodes one union member into a new T, in either encoding.
func decodeVariant[T any](b []byte, isJSON bool) (*T, error) {
	v := new(T)
	var err error
	if isJSON {
		err = json.Unmarshal(b, v)
	} else {
		err = unmarshalTyped(b, v)
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// encodeVariant encodes one union member, in either encoding.
func encodeVariant(v any, isJSON bool) ([]byte, error) {
	if isJSON {
		return json.Marshal(v)
	}
	return dagcbor.Marshal(v)
}
