// Package syntax parses and validates the atproto identifier and string
// formats: DIDs, handles, at-identifiers, NSIDs, record keys, repo paths,
// TIDs, AT-URIs, datetimes, language tags, generic URIs and the loose CID
// string check of the Lexicon "cid" format.
//
// Each format is a named string type (or, for ATURI, a small struct) that can
// only be obtained from a Parse function, so a value of the type is a proof
// that the string passed validation. Converting an arbitrary string with a
// type conversion bypasses that proof; accessors on such values return zero
// results rather than panicking.
//
// Invariants and tricky bits:
//
//   - Parsing never normalises: a parsed value is byte-for-byte the input, so
//     records can be passed through unchanged. Normalize methods exist where
//     the spec defines a normal form (handles, NSID authorities).
//   - The scanners are hand-written (no regexp) because they run once or more
//     per record on the firehose hot path. The Parse functions do not
//     allocate on valid input; only building an error does.
//   - Rules follow the atproto specs and the atproto-interop-tests vectors.
//     Where the two disagree the vectors win, and the choice is noted at the
//     relevant parser (notably Language, which is stricter than RFC 5646
//     about the primary subtag, and ATURI, which accepts an RFC 6901
//     fragment but no query).
//   - TIDs sort as strings in numeric order. A Clock hands out strictly
//     increasing TIDs even when asked many times within one microsecond or
//     when the wall clock steps backwards.
package syntax
