// Package dagcbor encodes and decodes the atproto data model: deterministic
// DAG-CBOR (the DRISL profile) and its JSON form.
//
// # The encoding
//
// Exactly one byte sequence is accepted for each value:
//   - map keys are text strings, sorted shorter first and then bytewise, with
//     no duplicates;
//   - integers and lengths use their shortest form; integers fit in int64;
//   - no floats (atproto forbids them even though DRISL allows them), no
//     indefinite lengths, no undefined or other simple values besides
//     false, true and null;
//   - the only tag is 42, a link, whose content is a byte string of 0x00 and a
//     binary CID in the blessed format (see package cid).
//
// # API
//
// Marshal and Unmarshal work on the generic model (nil, bool, int64, string,
// []byte, []any, map[string]any, cid.CID) and on Go structs with
// `cbor:"name,omitempty"` tags, through fxamacker/cbor. Valid checks bytes
// without building values, for a relay that only needs to know a record is
// well formed. FromJSON, ObjectFromJSON and ToJSON convert the JSON form
// ({"$link": cid}, {"$bytes": base64}). Check applies the data-model rules
// that go beyond the encoding ($type, blobs) to a generic value. Limits carries
// the decoding limits; its zero value means the defaults.
//
// # Invariants
//
// Decoding is strict: Unmarshal runs Valid first, so input that is not
// canonical (unsorted keys, a non-shortest integer) is rejected, not
// normalised. Hence every accepted input re-encodes to the identical bytes,
// and a CID computed over accepted bytes is the CID of the value.
//
// Marshal checks its own output with the same Valid, so it cannot produce
// bytes Unmarshal would reject: a float or a map with integer keys in a Go
// value is an encoding error rather than a silent divergence.
//
// Outside bytes never panic and never cost memory out of proportion to their
// size: every length in a header is compared with the bytes that remain
// before anything is read or allocated (a header claiming 2 GiB fails at
// once), and nesting, element counts, string sizes and the total size are
// bounded by Limits.
//
// # Links in structs
//
// A cid.CID field is a nullable link: the undefined CID encodes as null and
// null decodes to it. Tag a link that may be absent (rather than null)
// `omitzero`; `omitempty` never omits a cid.CID, because fxamacker treats a
// type with its own MarshalCBOR as never empty. A *cid.CID field works too:
// nil is null, or absent with omitempty.
//
// # Other choices
//
// A nil Go slice or map encodes as an empty one (as cbor-gen writes them);
// use a pointer or omitempty for null or absent. time.Time encodes as an
// RFC 3339 string, though atproto datetimes are better kept as strings.
// Unmarshal into a struct ignores unknown keys, so re-encoding a struct can
// drop fields; re-encoding the generic model never does.
package dagcbor
