// Package appview is Conflux's AppView: an independent subscriber of a
// relay (or of any subscribeRepos stream) that indexes app.bsky posts,
// likes, reposts, follows and profiles into its own Pebble store and serves
// the app.bsky read endpoints over XRPC.
//
// # Event-driven contract
//
// Run feeds the firehose into a pipeline (pipeline.go): VerifyWorkers
// goroutines prepare events out of order — verify each #commit, decode and
// validate its records, build their stored form — and one sequencer applies
// them in stream order, committing each batch's index writes together with
// the cursor of its last event in one Pebble batch. So the stored cursor
// always names a prefix of the stream whose effects are all committed, and
// after a crash exactly the uncommitted events are delivered again. The
// index (internal/index) is idempotent — every derived key and count is a
// function of the stored record versions and the accounts' statuses — so
// redelivering or replaying any range of events changes nothing, and the
// index converges to the one a clean single pass builds. NewConsumer
// offers the same indexing as a sequential durable consumer.
//
// # Verification
//
// Unless Config.NoVerify is set (a trusted relay), each #commit passes the
// sync 1.1 proof (repo.CheckCommitProof) and its signature is checked with
// the signing key from the account's DID document. A commit that fails is
// dropped and counted by DropReason; a transient resolution failure makes
// the sequencer prepare that event again after a backoff, holding the
// events behind it.
//
// # Accounts
//
// An account whose #account status is not active is hidden: its content
// is not served and its records leave every count (likes, reposts,
// replies, quotes, followers, posts; a follow of it leaves its follower's
// follows count), so counts equal what the lists show. Reactivation brings
// both back. A deleted account is purged: its records and their effects
// are removed; its later commits are dropped, and if it is ever
// reactivated its repository is fetched again with getRepo.
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
// the lexicon's view shapes; errors are XRPC JSON {error, message}. Records
// are stored pre-built when they are indexed (a post's JSON, reply and
// quote targets, media flags; see index.Record), so a read decodes no CBOR
// and validates nothing again.
// indexedAt is the record's createdAt: the index keeps no wall-clock time,
// so views are a pure function of the records.
package appview
