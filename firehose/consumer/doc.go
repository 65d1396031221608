// Package consumer is a client for any com.atproto.sync.subscribeRepos stream
// (a Conflux relay or host, a reference PDS, a public relay): it dials,
// decodes frames, hands each sequenced event to a Handler in order, and
// reconnects and resumes after anything goes wrong.
//
// # Cursor
//
// The cursor is the seq of the last PROCESSED event: the last one the
// handler returned nil for (in durable mode: the last one whose batch is
// committed). Every reconnect asks for events after that cursor, so the
// handler sees each event once per successful processing, in order, with no
// gap. Events a connection had already received but the handler had not yet
// processed are simply asked for again.
//
// # What ends a connection, and what ends Run
//
// Outside bytes never stop the consumer: a text frame, an undecodable frame,
// an oversized frame, a seq that repeats or goes backwards on one connection
// (the spec says to treat it as an error and drop the connection), an error
// frame such as ConsumerTooSlow, or a dead TCP connection each close the
// connection, are counted by DropReason, and are followed by a reconnect
// after a jittered exponential backoff. The backoff resets once a connection
// delivers an event.
//
// Run returns when ctx is cancelled (nil, after the handler has finished the
// event it was handling and, in durable mode, the pending batch is
// committed), when the handler returns an error (that error, wrapped), when
// a durable commit fails, when the server answers FutureCursor and the
// policy is FutureCursorStop (ErrFutureCursor), when the server says it does
// not implement the stream (HTTP 501, ErrNotImplemented), or when
// Config.MaxFailures consecutive connections failed without progress.
//
// A handler that wants the event again later returns an error wrapping
// ErrRetry: the consumer drops the connection, backs off and resumes from the
// last processed cursor, so the same event is delivered again.
//
// # Servers that repeat the cursor event
//
// Some fan-out servers (indigo's rainbow) replay from seq >= cursor instead
// of seq > cursor, so the first event after a reconnect is the one we
// already processed. That one event, and only as the first event of a
// connection, is skipped and counted (SkipRedelivered) rather than treated
// as a backwards seq, or every reconnect to such a server would fail.
//
// # Durable mode
//
// With Config.Durable the handler gets a *pebble.Batch of the caller's DB,
// writes its own changes into it, and the consumer adds its cursor (one key
// per consumer name, see keys.go) and commits the batch with Sync. While
// more received events are already waiting, up to Durable.MaxBatchEvents
// events share one batch and one fsync; cursor and effects are always in the
// same batch, so after a crash at any point exactly the events whose effects
// were not committed are delivered again. The batch is indexed: a handler
// reads its own state through it (b.Get), which sees the writes of earlier
// events of the same group.
//
// # Lag
//
// Metrics export the last processed seq, the lag in seconds (processing
// time minus the event's time field), the lag in events (when
// Config.HeadFunc tells the upstream head) and the processing rate; a
// progress line is logged at most once per Config.ProgressInterval, at Info
// while catching up and at Debug otherwise.
package consumer
