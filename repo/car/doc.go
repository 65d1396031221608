// Package car reads and writes CAR v1 archives (Content Addressable aRchives),
// the container atproto uses for repository exports (sync.getRepo) and for the
// blocks field of #commit and #sync firehose events.
//
// # Layout
//
// A CAR is a length-prefixed header followed by length-prefixed blocks:
//
//	uvarint(len(H)) ‖ H ‖ { uvarint(len(CID)+len(data)) ‖ CID ‖ data }*
//
// H is the DAG-CBOR map {roots: [links...], version: 1}; roots comes first
// because DAG-CBOR sorts shorter keys first. Only blessed atproto CIDs are
// accepted (CIDv1, dag-cbor or raw, sha2-256), so every CID in the body is
// exactly cid.Len bytes.
//
// # API
//
//   - Block is one CID with its data.
//   - ReadBytes parses a CAR already in memory (the #commit blocks slice) into
//     its roots and a Blocks map. Block data aliases the input slice: nothing
//     is copied, so the input must not be modified while the map is in use.
//     Each alias has its capacity cut to its length, so appending to one block
//     cannot overwrite the next. Blocks.GetBlock fits mst.BlockGetter.
//   - NewReader and Reader.Next stream a CAR from an io.Reader, one block at a
//     time, in file order, duplicates included; Next returns io.EOF at the end.
//   - NewWriter and Writer.WriteBlock stream a CAR out; Encode builds a whole
//     CAR in one allocation.
//
// # Invariants
//
// The readers are strict, so anything they accept re-encodes (Encode of the
// roots and of the blocks in file order) to exactly the input bytes:
//   - varints must be minimal and at most 9 bytes long;
//   - the header must be exactly the canonical map {roots, version: 1}, with
//     shortest-form heads and every root a canonical tag-42 link. An empty
//     roots array is allowed (the CAR spec leaves it open); callers that need
//     a root, like the commit check, test len(roots);
//   - every block's data is hashed and compared with its CID (ErrHashMismatch);
//     the atproto spec recommends this and indigo's reader skips it.
//
// Block order is free and duplicate blocks are tolerated, as the spec asks.
// Links between blocks are not followed: dangling links are normal.
//
// # Limits
//
// Outside bytes never drive an allocation that a Limits value has not
// allowed: every length prefix is compared with the limits before anything is
// allocated or read, so a prefix claiming 2 GiB fails at once with ErrLimit.
// A zero field takes its default (see Limits). The defaults are loose enough
// for a whole repository export; CommitLimits gives the tighter caps of a
// #commit blocks slice. Input that ends early fails with an error wrapping
// io.ErrUnexpectedEOF.
package car
