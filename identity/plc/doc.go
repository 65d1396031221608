// Package plc implements did:plc operations and a development PLC directory.
//
// The client side builds, signs and verifies operations ([Op],
// [CreateGenesis], [NewUpdate], [NewTombstone], [VerifyOp]) and talks to a
// directory over the PLC HTTP API ([Client]). The server side, [Directory],
// is a small PLC directory backed by Pebble so that Conflux hosts can
// register did:plc identities offline and any atproto resolver (ours in
// package identity, the TypeScript @atproto/identity one) can resolve them.
// It is a DEVELOPMENT directory: it says so in its logs and in the
// X-Conflux-Dev-Directory response header, and it must never stand in for
// plc.directory.
//
// The operation format follows the did:plc specification
// (github.com/did-method-plc/did-method-plc):
//
//   - An operation is signed over its DAG-CBOR encoding without the "sig"
//     key (absent, not null); the signature is the 64-byte low-S r||s form,
//     base64url without padding.
//   - A genesis operation has prev null and is signed by one of its own
//     rotation keys. The DID is "did:plc:" + the first 24 characters of the
//     lower-case base32 SHA-256 of the SIGNED genesis operation's DAG-CBOR,
//     so the DID commits to the signature too.
//   - Every later operation names the CID (dag-cbor, sha-256, base32 string,
//     not a CBOR link) of the operation it follows and is signed by a
//     rotation key of that previous operation.
//   - A plc_tombstone ends the identity for good.
//
// What the development directory does not do, and why that is acceptable:
//
//   - Legacy "create" genesis operations (the 2022 format) are rejected:
//     new identities never use them, and a development directory only ever
//     holds identities created against it.
//   - There is no 72-hour recovery window: an update must name the current
//     head as prev, so history is never forked and no operation is ever
//     nullified ("nullified" is always false in the audit log).
//   - There is no /export stream and no rate limiting.
//
// Invariants and tricky bits:
//
//   - What is stored and served is the canonical re-encoding of the
//     operation that was verified, never the client's raw JSON: decoding is
//     strict about top-level and service keys and types, and the signature
//     and the DID are checked against the canonical DAG-CBOR bytes, so no
//     JSON quirk (case, duplicate keys, unknown keys) can make the stored
//     operation differ from the signed one.
//   - Signature and CID strings must be canonical: a base64url signature
//     with non-zero padding bits, padding characters or line breaks, and a
//     prev CID string that is not the canonical base32 form, are rejected
//     rather than normalized, because normalizing would change what the CID
//     of the operation is.
//   - Writes are serialized per DID (a striped mutex held across read,
//     validate and write), so two updates racing on the same head cannot
//     both be accepted. Reads take no DID lock: each write is one Pebble key
//     in one synced batch, so a reader sees the log either before or after it.
//   - Re-submitting the operation that is already the head is a success
//     that stores nothing, so a host may safely retry after a timeout.
package plc
