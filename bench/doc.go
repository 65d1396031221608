// Package bench measures the whole Conflux pipeline the same way on any
// machine: `conflux bench SCENARIO`.
//
// Every scenario runs real servers on loopback in one process (a
// development PLC directory, repository hosts, the relay, the AppView, the
// feed generator), with real secp256k1 signatures and Pebble stores in a
// temporary directory that is removed at the end. A scenario has a Config
// whose zero value means the defaults, a bounded duration (each fits in
// about a minute on a 2-core machine with default settings), and a Result
// that prints as a table (Table) or marshals to JSON.
//
// Scenarios:
//
//   - RelayIngest: N hosts x M accounts of synthetic signed commits, written
//     to real hosts first and then ingested by the relay from the hosts'
//     retained logs with full verification; events/s, CPU, and the ratio to
//     the signature-verification bound.
//   - Fanout: K subscribers to the relay while hosts write at a rate;
//     delivered frames/s and latency percentiles.
//   - Replay: one subscriber from cursor 0 over a retained log of N events.
//   - AppviewIndex: the AppView indexing a pre-recorded stream, with
//     verification off and on.
//   - FeedServe: concurrent getFeedSkeleton clients on a large feed, closed
//     loop and paced.
//   - E2E: background synthetic load on hosts while probe posts are
//     committed one at a time; the time until each is visible in the AppView
//     and in a feed skeleton, with a per-hop breakdown.
//
// # The signature-verification bound
//
// A verifying relay or indexer cannot beat cores x secp256k1
// verifications/s: MeasureBound measures it in the same run (every core
// verifying signatures of distinct keys, about one second), and scenarios
// where it applies report their rate's ratio to it.
//
// # Latency observers
//
// The e2e scenario does not poll for visibility: the AppView and each feed
// consumer call a hook when a batch is committed to their index
// (consumer.Durable.OnCommit), and a probe counts as visible when the
// committed cursor passes the relay seq of its commit. Each observation is
// then confirmed by one HTTP read (getPosts, getFeedSkeleton).
package bench
