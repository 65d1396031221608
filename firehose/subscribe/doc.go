// Package subscribe serves com.atproto.sync.subscribeRepos: a WebSocket
// stream of the frames in an event log, from a cursor or from the live head.
//
// # Pull, not push
//
// Each connection has one writer goroutine that reads the log at its own
// cursor (Log.ReadFrom), writes the frames, advances the cursor, and parks on
// Log.Changed when caught up. Replay and live tail are therefore the same
// loop: there is no hand-off between a backfill and a broadcast, so no gap and
// no duplicate. The appender never waits for a subscriber and a slow
// subscriber never slows another; a subscriber that falls behind the
// retained window finds out because ReadFrom says its next event was trimmed
// (eventlog.ErrTrimmed), and gets ConsumerTooSlow.
//
// Frames are written as they are stored: the log encodes each event once and
// every subscriber writes the same bytes. The writer frames them itself (an
// unmasked binary WebSocket frame is a 2 to 10 byte header) and hands a whole
// batch to one writev, instead of one write per message through gorilla's
// writer; gorilla does the handshake and reads the client's frames. With
// Config.WriteGap a caught-up subscriber woken sooner than the gap after its
// last write waits out the rest first, so a fast stream costs each
// subscriber one wake-up and one writev per gap instead of one per log
// commit (what decides fan-out CPU with many subscribers).
//
// # Cursor semantics (the spec and the reference PDS)
//
//   - no cursor: start at Head(), the live tail;
//   - cursor > Head(): an error frame FutureCursor, then close 1008;
//   - Oldest()-1 <= cursor <= Head(): every event with seq > cursor, then live;
//   - cursor+1 < Oldest() (including cursor=0 after trimming): an #info
//     OutdatedCursor frame, then from the oldest retained event. The same
//     happens if the window moves past the cursor before the first event is
//     sent: the client did miss events, and is told so once;
//   - a running subscriber whose next event was trimmed: an error frame
//     ConsumerTooSlow, then close 1008.
//
// A cursor that is not an integer >= 0 is refused with HTTP 400 before the
// upgrade, as are a method other than GET (405), a request without Upgrade
// (426), and connections over the per-IP limit (429).
//
// # Connections
//
// A reader goroutine per connection discards what the client sends (the spec
// says to ignore it), under a read limit, and reports pings, pongs and the
// client's close to the writer, so that every byte the server sends comes
// from the writer. (The one exception is gorilla's own close frame on a
// client protocol error, written as one write on a connection that is being
// torn down anyway.) Every write has a deadline; a write blocked past it
// drops the subscriber. An idle connection is pinged every PingInterval, and
// dropped after two pings in a row went unanswered.
//
// Every error frame is followed by a close frame with code 1008 and the
// error name as its reason. After the server sends a close frame it waits a
// little for the client's reply before closing the TCP connection, so the
// close frame is read rather than lost to a reset.
//
// # Shutdown
//
// Hijacked connections are invisible to http.Server.Shutdown, so the Server
// keeps a registry. Shutdown refuses new connections (503), tells every
// writer to send a 1001 close frame, and waits; when its context ends it
// closes the remaining sockets, which unblocks any writer, and waits for them.
//
// # Interface to the log
//
// The Server depends only on the Log interface (head, oldest, read from a
// cursor, change notification), so that a log other than the Pebble one,
// such as a NATS JetStream stream, can stand in.
package subscribe
