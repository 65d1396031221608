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
// (accepted; feeds hold posts only, never reposts). popularity is rejected
// as not implemented yet. A feed's optional "authorCap" (1..100) shows at
// most that many posts per author per page, and "minLikes" only posts with
// at least that many likes (counted from the stream, checked when serving).
package feedfile
