// Package appview is Conflux's AppView: an independent subscriber of a
// relay (or of any subscribeRepos stream) that indexes app.bsky posts,
// likes, reposts, follows and profiles into its own Pebble store and serves
// the app.bsky read endpoints over XRPC.
//
// # Event-driven contract
//
// The firehose consumer runs in durable mode: each event's index writes and
// the consumer cursor are committed in one Pebble batch, so after a crash
// exactly the uncommitted events are delivered again. The index
// (internal/index) is idempotent — every derived key and count is a function
// of the stored record versions — so redelivering or replaying any range of
// events changes nothing, and the index converges to the one a clean single
// pass builds.
//
// # Verification
//
// Unless Config.NoVerify is set (a trusted relay), each #commit passes the
// sync 1.1 proof (repo.CheckCommitProof) and its signature is checked with
// the signing key from the account's DID document. A commit that fails is
// dropped and counted by DropReason; a transient resolution failure asks the
// consumer to redeliver the event later.
//
// # Desynchronised repositories
//
// The index keeps each repository's last applied rev and MST root. A
// commit at or below that rev is already applied and skipped. A commit
// whose since or prevData does not match (events were lost), or a #sync
// event, triggers a resync inside the same batch: getRepo from the relay
// (redirects followed), diff against the indexed records, apply. Resyncs are
// rate limited (Config.ResyncInterval); a repository over budget is marked
// and resynced at its next commit.
//
// # Reads
//
// Every read runs on a Pebble snapshot, checks its parameters against the
// app.bsky lexicon (required fields, limit and depth bounds) and answers in
// the lexicon's view shapes; errors are XRPC JSON {error, message}. Content
// of accounts whose #account status is not active is not served.
// indexedAt is the record's createdAt: the index keeps no wall-clock time,
// so views are a pure function of the records.
package appview
