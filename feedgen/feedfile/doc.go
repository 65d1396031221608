// Package feedfile reads declarative feed files: JSON documents that compose
// built-in filters into feeds without Go code, each feed a plugin.Feed.
//
// JSON, not YAML, because encoding/json needs no new module; the file is
// parsed into a tree that keeps line numbers, so every validation error
// names the line of the offending value.
//
//	{"feeds": [{
//	  "name": "gophers",
//	  "retention": "72h",
//	  "rule": {"all": [
//	    {"keyword": {"words": ["golang", "gopher"], "in": ["text", "alt", "links"]}},
//	    {"lang": ["en"]},
//	    {"not": {"reply": true}},
//	    {"excludeAuthors": ["did:plc:spammer"]}
//	  ]}
//	}]}
//
// Rules (an object with exactly one key): all, any (arrays of rules), not
// (a rule); keyword and regex ({words|pattern, in: text/alt/links, case:
// case-sensitive, invert}); lang, hashtag, mention (DIDs), authors (allow
// list), excludeAuthors (deny list); hasMedia (bool), embed (embed types);
// reply (true keeps only replies, false excludes them); excludeReposts
// (accepted; feeds hold posts only, never reposts).
//
// Beside name, retention and rule, three feed fields apply when serving
// rather than when matching (likes arrive after the post): "authorCap"
// (1..100) shows at most that many posts per author per page, "minLikes"
// only posts with at least that many likes (counted from the stream), and
// "popularity" ({gravity, offsetHours, reposts, minScore}) ranks the feed
// by (likes + reposts×weight) / (hours + offsetHours)^gravity instead of
// newest first, leaving out posts that score below minScore. In a rule
// tree they are rejected with an error that says so. Settings lists them
// for explanations.
package feedfile
