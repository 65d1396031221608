// Package relay merges the commit streams of many repository hosts into one
// verified, sequenced firehose (com.atproto.sync.subscribeRepos), following
// the sync 1.1 spec strictly.
//
// # Pipeline
//
// One ingester per host (firehose/consumer, non-durable mode, resumed from the
// host's stored cursor, jittered reconnects, offline after MaxFailures failed
// connections, idle on FutureCursor) hands events to a per-host pipeline of
// HostWorkers workers. An event goes to the worker its DID hashes to, so one
// account's events are processed in arrival order while different accounts'
// run in parallel. A full worker queue blocks the consumer: that and the
// per-host rate limits (sliding windows of a second, an hour and a day, as
// the reference relay has) are backpressure on the host's socket; nothing is
// dropped for being fast. A worker handles whatever is queued for it as one
// batch: the events in order (each verified against the state the one
// before left), their output events appended together
// (eventlog.AppendEach: one wait on the log), then their state writes in
// one Pebble commit, then their seqs marked done.
// Verification itself holds one of procs.CPUs() slots, so the many workers
// waiting on appends never crowd the run queue that the log's committer and
// the subscribers' writers share; while anyone subscribes, one slot is kept
// out of verification, so delivery always has a CPU (fan-out latency stays
// in milliseconds when hosts send faster than the relay can verify).
//
// # Host supervision
//
// Each host's ingester runs under a supervisor that records why it stopped
// (state.Host.Reason, getHostStatus's reason, conflux_relay_host_stops_total):
// the consumer gave up (offline), FutureCursor (idle), the host is a relay
// (banned: the loop guard reads the Server header of the subscribeRepos
// handshake response as the consumer dials, so a host added without
// requestCrawl's describeServer check is refused too), or our own
// processing failed (offline, then retried from the stored cursor after a
// jittered delay growing to five minutes, and active again).
//
// Each event is checked (internal/verify: sizes, identity and current host
// with one forced re-resolution, account status, CAR and commit, revs,
// signature with one forced key refresh, continuity, MST inversion) against
// the account's state (internal/state, Pebble), then appended to the event
// log (firehose/eventlog), which assigns the relay's own seq and makes the
// event durable before any subscriber can read it. Dropped events are counted
// by verify.Reason (the conflux_relay_drops_total label) and logged once.
//
// # Crash ordering
//
// For every event: append to the log (durable), then write the account state,
// then (once every earlier event of the host is done too) move the host's
// cursor. Pebble's WAL keeps those writes in order, so a stored cursor never
// runs ahead of what was appended. After a crash the host resends what the
// cursor does not cover: some events may be emitted twice (the spec tolerates
// duplicates), none is lost, and seqs never repeat because only the log
// assigns them.
//
// # Accounts
//
// Accounts are numbered (UIDs) in the order the relay first sees them;
// listRepos pages by UID with a decimal cursor, as the reference relay does.
//
// An account's public status is recomputed from the relay's local status
// (takedowns, host throttling; kept in its own keyspace so admin writes and
// ingest writes never undo each other) and the upstream one from #account
// events (spec §5.4). #commit and #sync of inactive accounts are dropped;
// #identity is passed on from any host with the handle kept only when the
// DID document declares it; #account is emitted recomputed.
//
// Per-host leniency (HostOptions.Lenient) turns inversion failures and a
// missing prevData into counted warnings; chain breaks (since or prevData not
// matching the stored state) are always passed through and counted, as the
// spec asks of relays.
package relay
