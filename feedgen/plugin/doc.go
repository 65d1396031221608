// Package plugin is the one public extension interface of the feed
// generator: a feed is a Go value implementing Feed, registered explicitly
// in a Registry (there is no init() registry and no global state).
//
// For every new app.bsky.feed.post the generator builds one Post (the record
// already decoded and flattened into the fields feeds filter on: text,
// langs, tags, mentions, links, embed type, image count, alt text, reply
// parent and root, author and createdAt) and asks each registered feed to
// Match it. A Decision keeps or drops the post and may carry a score.
//
// Optional hooks are separate one-method interfaces a feed may also
// implement: Interactor (likes and reposts), Deleter (post deletes) and
// Cleaner (periodic clean-up); and, for serving, Ranker with Scorer (rank
// by a decayed score) and Personalizer (pages that depend on the
// requester's DID). The generator checks for them with a type assertion,
// so a feed pays only for what it uses.
//
// Match runs on the ingest path, once per post per feed: it must not block,
// must not keep the *Post after returning (the generator reuses it), and
// must be safe to call from one goroutine at a time (the generator never
// calls it concurrently).
package plugin
