// Package identity resolves atproto account identities: a DID is turned into
// its DID document, and the document into the three facts the rest of
// Conflux needs: the atproto signing key (to verify commits), the PDS
// endpoint (to know which host may speak for the account) and the declared
// handle.
//
// The layers, from the bottom:
//
//   - [ParseDocument] decodes a JSON DID document into an [Identity]. It is
//     method-agnostic and pure; it runs on bytes from the network, so it has
//     a size limit, never panics and is fuzzed.
//   - [Resolver] fetches documents: did:plc from a PLC directory, did:web
//     from the host's /.well-known/did.json, and did:key synthesized
//     locally. Every call takes a context; the HTTP client, the PLC URL and
//     the response-size limit come in through [Config].
//   - [Cache] wraps anything with a Resolve method: a TTL for good results,
//     a shorter one for failures, forced refresh and purge, a bounded LRU,
//     and one shared request per DID however many callers ask at once.
//
// Invariants and tricky bits:
//
//   - A document is only accepted for the DID that was asked for: its "id"
//     must equal the requested DID byte for byte. Otherwise a did:web host
//     (or a broken PLC mirror) could serve one account's document for
//     another.
//   - Only the relative ("#atproto") or the DID-qualified ("did:...#atproto")
//     form of a verification method or service id counts. An id qualified
//     with some other DID names someone else's key and is ignored.
//   - The signing key and the PDS endpoint are parsed once, when the document
//     is parsed, because the relay verifies a signature per commit. A
//     malformed key or endpoint does not fail the whole document: the
//     identity still resolves (its handle and other services may be fine),
//     and [Identity.PublicKey] or [Identity.PDSEndpoint] report why.
//   - The declared handle is NOT verified. It is what the document claims;
//     a handle is only trustworthy once it is checked to resolve back to the
//     same DID, which this package does not do yet.
//   - An [Identity] is shared between every caller of a [Cache]; treat it
//     as read-only.
//   - The cache never starts goroutines. The first caller for a DID does the
//     request on its own goroutine; later callers wait for it or for their
//     own context. If the first caller gives up (its context ends), a waiter
//     whose context is still alive takes over with a fresh request, so one
//     impatient caller cannot fail everyone else.
package identity
