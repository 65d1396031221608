// Package feedgen is a custom-feed generator: a durable firehose consumer
// that runs every post through the registered feeds (package
// feedgen/plugin) into a per-feed Pebble index, and serves the feeds as
// app.bsky.feed.getFeedSkeleton.
//
// # Consistency
//
// Generator.HandleEvent is a consumer.DurableHandler: the index changes of
// an event go into the consumer's batch, which also carries the cursor, so
// after a crash exactly the uncommitted events are replayed. Every change is
// keyed by data of the event itself (the post's URI and the relay's event
// time as indexed time), never by the wall clock, so replaying an event
// writes the same keys and changes nothing.
//
// # Ordering and cursors
//
// Items are ordered by (indexed time, URI), newest first. The cursor is an
// opaque encoding of the last item served, and the next page starts
// strictly after it; URIs are unique, so a page boundary inside a run of
// equal timestamps neither repeats nor skips an item, and items inserted
// while a client pages appear only if they sort after the boundary. The
// last page has no cursor.
//
// # Deletes and retention
//
// A post delete removes the post from every feed (a membership key per
// post and feed finds them); an #account event with status deleted purges
// every post of the account. Expire drops items older than each feed's
// retention.
package feedgen
