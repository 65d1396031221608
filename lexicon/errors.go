package lexicon

import (
	"errors"
	"strconv"
)

// Sentinel errors. Errors returned by this package wrap one of them; compare
// with errors.Is.
var (
	// ErrInvalidSchema: a schema document that is not valid Lexicon.
	ErrInvalidSchema = errors.New("lexicon: invalid schema")
	// ErrUnknownSchema: the catalog has no schema for the NSID or reference.
	// A PDS doing optimistic validation accepts records whose collection
	// fails with this error.
	ErrUnknownSchema = errors.New("lexicon: schema not found")
	// ErrWrongSchemaType: the schema exists but is the wrong kind for the
	// call (for example ValidateRecord on a query).
	ErrWrongSchemaType = errors.New("lexicon: wrong schema type")
	// ErrInvalidData: data that does not match its schema. The concrete
	// error is a *ValidationError naming the field.
	ErrInvalidData = errors.New("lexicon: invalid data")
	// ErrFrozen: Load or Add on a catalog that is shared read-only.
	ErrFrozen = errors.New("lexicon: catalog is read-only")
)

// XRPC error names a ValidationError carries, chosen by what was validated.
const (
	ErrNameInvalidRecord   = "InvalidRecord"
	ErrNameInvalidRequest  = "InvalidRequest"
	ErrNameInvalidResponse = "InvalidResponse"
	ErrNameInvalidMessage  = "InvalidMessage"
)

// ValidationError reports data that does not match a schema. Name is the
// XRPC error name a server answers with (InvalidRecord for records,
// InvalidRequest for parameters and input bodies); Path names the field,
// slash-separated from the root ("record/embed/images/0/alt"); Message says
// what is wrong with it.
type ValidationError struct {
	Name    string
	Path    string
	Message string
}

// Error formats the error as "Name: path: message".
func (e *ValidationError) Error() string {
	return e.Name + ": " + e.Path + ": " + e.Message
}

// Unwrap makes errors.Is(err, ErrInvalidData) true.
func (e *ValidationError) Unwrap() error { return ErrInvalidData }

// at prefixes the path of a *ValidationError with one more segment, as the
// error travels up from the field that failed. Building the path on the way
// out rather than on the way in keeps successful validation free of
// allocations.
func at(err error, seg string) error {
	if ve, ok := err.(*ValidationError); ok {
		if ve.Path == "" {
			ve.Path = seg
		} else {
			ve.Path = seg + "/" + ve.Path
		}
	}
	return err
}

// atIndex is at for an array element.
func atIndex(err error, i int) error { return at(err, strconv.Itoa(i)) }
