// Package pds is a small atproto repository host (a PDS): accounts with
// their own signing keys and DIDs, record writes over XRPC validated by the
// lexicon catalog, repositories (MST and blocks) in Pebble, and the host's
// own com.atproto.sync.subscribeRepos firehose carrying sync 1.1 #commit
// events that a receiver can check by inversion.
//
// # Layout
//
// One Pebble DB (DataDir/repo, layout in keys.go) holds accounts, heads,
// blocks, a record index, blobs and refresh tokens; the event log
// (package firehose/eventlog) has its own DB in DataDir/events and is served
// by firehose/subscribe. New starts nothing; Run recovers, serves and stops;
// Handler is the echo router with every XRPC method; Close closes the stores.
//
// # The write path
//
// ApplyWrites (and every XRPC write) checks and encodes the records outside
// any lock, then takes the repo's lock (one per DID; different repos commit
// concurrently): load the tree (kept decoded between writes), apply the
// edits, hash, put the new MST nodes, records, signed commit (rev from a TID
// clock, never at or below the stored rev, even across restarts) and head
// into one batch, build the #commit with the exact CAR slice a receiver
// needs to invert its ops (repo.CommitSlice), commit the batch with fsync,
// append the event to the log, and only then acknowledge. Pebble groups
// concurrent synced batches into one fsync and the event log groups
// concurrent appends, so throughput scales with the number of writers.
//
// # Crash safety between two stores
//
// The repo batch and the event append are two commits in two DBs. The
// batch also holds a pending record of the write's events (by DID); it is
// cleared after the append. Run, before admitting writes, looks for pending
// records: one whose DID has an event in the log after the head recorded
// with it was announced (the crash fell after the append) and is just
// cleared; any other has its events appended now, with their original
// diff and proof, so an acknowledged write is never lost and never
// announced twice. This is stronger than the alternative of emitting #sync
// for unannounced commits, which would make every consumer refetch the repo.
// While a repo has a pending record in a running process (its append
// failed), it refuses writes, so the record is never overwritten.
//
// # Accounts
//
// CreateAccount generates the signing key (ES256K by default), registers a
// did:plc with the configured PLC directory (rotation key: one per host,
// kept in the store) or names a did:web after the handle, stores the empty
// repository's first commit and emits #identity, #account(active), #commit,
// in the order of the account-lifecycle spec. Deactivation emits
// #account(active false, deactivated) and refuses writes; reactivation emits
// #account(active) and an empty #commit; deletion removes the account's data
// and emits #account(active false, deleted).
//
// # XRPC and auth
//
// Errors leave through one echo error handler as {"error", "message"}, with
// names and statuses from one table (xrpc.go) following the reference PDS:
// InvalidRecord names the offending field path. Writes need a Bearer access
// token (HS256 JWT, package pds/internal/token) for the session's own repo,
// or the admin password (Basic admin:<password> or Bearer <password>) for
// any repo. There is no unauthenticated write path.
package pds
