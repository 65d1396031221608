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
// writes the same keys and changes nothing (except each feed's version, a
// cache validator; see below).
//
// # Newest-first feeds: ordering, cursors and the in-memory head
//
// Items are ordered by (indexed time, URI), newest first. The cursor is an
// opaque encoding of the last item served, and the next page starts
// strictly after it; URIs are unique, so a page boundary inside a run of
// equal timestamps neither repeats nor skips an item, and items inserted
// while a client pages appear only if they sort after the boundary. The
// last page has no cursor.
//
// Pages are served from an in-memory head of each feed (its newest
// Config.HeadItems items, their JSON pre-encoded into one buffer, so an
// unfiltered page is one sub-slice of it and a request allocates almost
// nothing); a page that runs past the head reads a Pebble snapshot. Every
// batch that changes what a feed serves also writes a new random version
// of the feed, so a request revalidates the head with one point read and
// the first request after a change rebuilds it: a page is never staler
// than the committed index.
//
// # Ranked feeds: snapshot rankings
//
// A RankScore feed is served by a score with time decay (the feed's
// plugin.Scorer, or plugin.DefaultScore: Gravity of Match score + likes +
// reposts). Ages change every score all the time, so a page position in a
// live order would make clients repeat and skip posts. Instead the
// generator computes a ranking of the whole feed (one pass over its items
// and its like and repost counters, sorted by score, then newer, then URI;
// at most Config.RankDepth posts) at most once per Config.RankInterval, on
// the first request after it is due, and keeps every ranking for
// Config.RankKeep. A ranked cursor names its ranking (a generation id from
// the build time, unique across restarts) and the offset after its last
// item, plus that item's (score, time, URI): a client pages through one
// frozen ranking, with no duplicate and no skip however scores move, while
// new first pages get the new ranking. Once the ranking is gone (after
// RankKeep, or a restart), the cursor continues after its item in the
// current ranking, or, if the item left the feed, after its (score, time,
// URI) position: a best effort that may repeat or skip posts whose scores
// moved across that position (with decay, all scores shrink, so a few
// posts ranked just above it may come again). Rankings live in memory rather than in
// Pebble because they are derived data, rebuilt in one pass, and because
// persisting one per minute would cost writes for no durability gain: the
// fallback already makes a lost ranking harmless. Deletes and takedowns
// reach a ranked feed at its next ranking (within RankInterval).
//
// # Deletes, accounts and retention
//
// A post delete removes the post from every feed (a membership key per
// post and feed finds them). An #account event with status deleted purges
// every post of the account. Status takendown, suspended or deactivated
// hides the account's posts: their item keys go, their membership keys
// stay (posts indexed meanwhile are kept the same way), and the account's
// next active #account restores them, as the reference AppView keeps a
// taken-down actor's records and stops serving them. desynchronized and
// throttled describe the hosting, not the content, and change nothing.
// Expire drops items older than each feed's retention.
//
// # Personalised feeds
//
// With service auth configured, the DID of a verified token is passed to
// a feed implementing plugin.Personalizer, whose filter is applied while
// the page is assembled (from the same shared head or ranking).
package feedgen
