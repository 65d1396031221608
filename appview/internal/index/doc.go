// Package index is the AppView's Pebble index of app.bsky records: posts
// (text, langs, facets, embeds, reply parent and root, quotes), likes,
// reposts, follows and profiles, with their aggregate counts, plus per-actor
// handle and account status.
//
// # Idempotency
//
// Every derived key and count is a function of the record versions stored
// under their AT-URIs (see keys.go). Applying an op first compares the CID
// it carries with the stored one: the same CID changes nothing, a different
// one removes the old version's effects and adds the new one's, and a delete
// removes the stored version's effects. So redelivering any range of events
// changes nothing, and the index after a crash and replay is byte-identical
// to a single clean pass.
//
// # Batches
//
// All writes go into a caller-supplied indexed *pebble.Batch (the durable
// consumer's), which also carries the cursor, so effects and cursor commit
// together. Reads during indexing go through the batch's iterator, which
// sees earlier writes of the same batch merged with the DB.
//
// # Visibility
//
// Lists (edges) follow the records; counts follow only the records of
// visible (active) accounts, and a follow counts toward its author's
// follows only while its subject is visible. ApplyAccount moves the
// affected counts when an account is hidden or shown again, and purges a
// deleted account's records. So every count is a function of the stored
// records and the accounts' statuses, whatever order the events came in.
//
// # Stored records
//
// A record is validated once, by Prepare (lexicon.DecodeRecord), which
// keeps what the index and the views need (record.go) — a post's JSON, its
// reply and quote targets, media flags; a like's subject; a profile's
// names — so neither reads nor later updates and deletes decode CBOR.
// Prepare is pure, so the AppView runs it on many goroutines. The layout
// has a version (CheckFormat).
//
// # Bad records
//
// A record that does not decode or validate (lexicon.DecodeRecord), or whose
// collection the AppView does not index, is skipped and counted by a
// SkipReason; it never stops indexing. A skipped create or update still
// removes a previously stored version, since the repository no longer holds it.
package index
