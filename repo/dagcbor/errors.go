package dagcbor

import "errors"

// Errors for input that is not canonical atproto DAG-CBOR, or not a valid JSON
// form of the data model. They are wrapped with the offset or path and detail;
// compare with errors.Is.
var (
	// ErrTruncated: the input ends inside an item.
	ErrTruncated = errors.New("dagcbor: unexpected end of input")
	// ErrTrailing: bytes after the one top-level item.
	ErrTrailing = errors.New("dagcbor: trailing bytes after the item")
	// ErrNotCanonical: a valid CBOR item in a form other than the one DRISL
	// allows (non-shortest integer or length, map keys out of order).
	ErrNotCanonical = errors.New("dagcbor: not canonical")
	// ErrDuplicateKey: a map has the same key twice.
	ErrDuplicateKey = errors.New("dagcbor: duplicate map key")
	// ErrForbidden: an item outside the atproto data model: floats, tags other
	// than 42, undefined and other simple values, indefinite lengths, integers
	// outside the signed 64-bit range, reserved header values.
	ErrForbidden = errors.New("dagcbor: not allowed in the atproto data model")
	// ErrKeyType: a map key that is not a text string.
	ErrKeyType = errors.New("dagcbor: map key is not a text string")
	// ErrUTF8: a text string that is not valid UTF-8.
	ErrUTF8 = errors.New("dagcbor: text is not valid UTF-8")
	// ErrLink: a tag-42 link whose content is not 0x00 and a blessed CID.
	ErrLink = errors.New("dagcbor: invalid link")
	// ErrLimit: the input exceeds a decoding limit (see Limits).
	ErrLimit = errors.New("dagcbor: limit exceeded")

	// ErrJSON: input that is not the JSON form of the data model (syntax,
	// a non-integer number, a malformed $link or $bytes object).
	ErrJSON = errors.New("dagcbor: invalid JSON data model")
	// ErrModel: a value that breaks a data-model rule that holds in both forms:
	// a $type that is not a non-empty string, an incomplete blob, a map that
	// uses $link or $bytes as an ordinary key, a Go type outside the model.
	ErrModel = errors.New("dagcbor: invalid data model value")
)
