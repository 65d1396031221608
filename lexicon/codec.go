package lexicon

import (
	"fmt"
	"math"
	"sync"

	"github.com/fxamacker/cbor/v2"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// typedMode decodes DAG-CBOR into this package's structs. It differs from the
// decoder of package dagcbor in one way: map keys match struct fields
// case-sensitively. fxamacker's default matches them case-insensitively, so
// an undeclared key such as "Langs" (which validation ignores) would land in
// the Langs field and the typed record would hold data nobody validated.
var typedMode = sync.OnceValues(func() (cbor.DecMode, error) {
	return cbor.DecOptions{
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		// dagcbor.Valid has enforced the real limits before this decoder
		// runs, so its own are opened up.
		MaxNestedLevels:  65535,
		MaxArrayElements: math.MaxInt32,
		MaxMapPairs:      math.MaxInt32,
		DupMapKey:        cbor.DupMapKeyQuiet,
		IndefLength:      cbor.IndefLengthForbidden,
		IntDec:           cbor.IntDecConvertSigned,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
})

// unmarshalTyped decodes one canonical DAG-CBOR item into a struct of this
// package. The bytes are checked with dagcbor.Valid first, so input that is
// not canonical DAG-CBOR, or is over the limits, never reaches fxamacker.
func unmarshalTyped(data []byte, v any) error {
	if err := dagcbor.Valid(data); err != nil {
		return err
	}
	m, err := typedMode()
	if err != nil {
		return fmt.Errorf("lexicon: decoder options: %w", err)
	}
	if err := m.Unmarshal(data, v); err != nil {
		return fmt.Errorf("lexicon: decode %T: %w", v, err)
	}
	return nil
}
