// Package lexicon holds the Lexicon schemas Conflux reads and serves, checks
// data against them, and decodes the records Conflux understands into Go
// types.
//
// # Schemas and the catalog
//
// ParseSchema parses one schema document and checks it against the rules of
// the Lexicon language (version 1): a valid NSID, at least one def, primary
// types (record, query, procedure, subscription, permission-set) only as
// main, no ref, union, unknown, params or permission as a named def, sane
// bounds, known string formats, record key types, XRPC bodies that are
// objects, refs or unions. A Catalog holds documents and resolves references
// between them ("#local", "nsid", "nsid#name"); CheckRefs reports any that do
// not resolve. Default returns the shared catalog of the JSON schemas
// embedded from schemas/, which mirror the published atproto lexicons field
// for field (descriptions aside) for every NSID Conflux uses and everything
// those reference.
//
// # Validation
//
// ValidateRecord checks a record in the generic data model of package
// dagcbor (nil, bool, int64, string, []byte, []any, map[string]any, cid.CID).
// ValidateParams, ValidateInput, ValidateOutput and ValidateMessage do the
// same for XRPC calls and event-stream messages. Failures are a
// *ValidationError carrying the XRPC error name (InvalidRecord, ...), the
// slash-separated path of the offending field from the root
// ("record/embed/images/0/alt") and a message, so that a server can answer
// 400 naming the field.
//
// The rules follow the Lexicon spec and the atproto interop vectors:
//   - string lengths count UTF-8 bytes; maxGraphemes and minGraphemes count
//     extended grapheme clusters (UAX #29, via rivo/uniseg);
//   - knownValues is advisory and never enforced; enum and const are;
//   - objects ignore fields their schema does not declare; null is allowed
//     only for fields listed as nullable;
//   - a union member needs a $type naming the variant without a #main
//     suffix. Closed unions reject other types; open unions accept them, and
//     check those the catalog knows;
//   - unknown fields must hold an object that is not a blob;
//   - blobs are {$type: blob, ref, mimeType, size}; the legacy
//     {cid, mimeType} form is tolerated, without a size to check.
//
// Validation allocates only when it fails: paths are built on the stack and
// formatted on error, and the string-format parsers of package syntax do not
// allocate. Grapheme counting is skipped when the byte length alone settles
// the bound.
//
// # Go types
//
// FeedPost, FeedLike, FeedRepost, FeedGenerator, GraphFollow and ActorProfile
// (with StrongRef, Blob, RichtextFacet and the embed types) decode from
// DAG-CBOR and from XRPC JSON with encoding/json; the Repo*, Server*, Sync*,
// Feed*Output and Identity* types are the XRPC bodies Conflux serves.
// Unions are structs with one pointer per known variant plus Unknown, which
// keeps a variant this package has no type for so that it re-encodes
// unchanged. DecodeRecord validates a record and then decodes it into its
// type. Struct fields mirror the schema: required fields are never omitted;
// optional ones are pointers or omitzero slices, keeping absent apart from
// empty. So a decoded record re-encodes to the same bytes (and CID) unless it
// carried fields the schema does not declare; the tests check this on every
// real record in the vectors.
//
// DecodeRecord matches map keys to struct fields case-sensitively (its own
// fxamacker decoder, after dagcbor.Valid), because an undeclared key such as
// "Langs" is ignored by validation and must not fill the Langs field. Plain
// dagcbor.Unmarshal and encoding/json match case-insensitively; decode
// untrusted records with DecodeRecord, or validate the generic value first
// and treat the typed one as a convenience.
package lexicon
