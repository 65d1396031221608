// Package eventlog is the durable, sequenced, replayable log of encoded
// firehose frames that a relay or repository host serves subscribers from.
//
// One sequencer: Append hands entries to the committer goroutine (owned by
// Run), which assigns seqs, asks each entry to encode its frame now that its
// seq and time are known, and writes the events together with the new head in
// one Pebble batch. Concurrent appenders are gathered into one batch and one
// fsync (group commit). Only after the batch is durable does the committer put
// the events in the in-memory tail, publish the head and wake waiters, so a
// reader never sees a seq whose event could be lost.
//
// Fan-out is pull: each subscriber calls ReadFrom at its own cursor and parks
// on Changed when caught up, so replay and live tail are the same loop. Recent
// events come from the tail (a bytes-bounded ring of the encoded frames; the
// same bytes are shared by every reader), older ones from a Pebble iterator.
//
// Retention: Run's trimmer cuts events older than Config.Retention, and the
// oldest ones while stored frames exceed Config.MaxBytes. It finds the cut
// from a small checkpoint index (see keys.go) and hands the deletion to the
// committer, so the committer stays the only writer and appends never wait on
// a trim's search (nor on an fsync of its own: a trim rides on the next
// append's). The cut is published (Oldest) before the deletion is
// applied: a reader that raced the deletion sees the new Oldest when it
// rechecks and reports ErrTrimmed instead of returning a gap.
//
// Invariants, checked at Open and on every read: seqs strictly increase and
// continue after a restart (the head is stored in every append batch, so it
// survives trimming everything); append times never decrease along seq; the
// first index checkpoint is the oldest retained event. A violation is our own
// corruption and is returned as ErrCorrupt, never papered over.
//
// The surface (Append, ReadFrom, Head, Oldest, Changed) is deliberately small
// so that another sequenced store, such as a NATS JetStream stream, can stand
// in for this one behind the subscribe and consumer packages.
package eventlog
