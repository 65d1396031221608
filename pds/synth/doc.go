// Package synth drives synthetic activity against a repository host: N
// users posting, replying, quoting, liking, reposting, following, updating
// profiles and deleting, at a target rate, with realistic content (several
// languages, hashtags, mentions, links, images as uploaded blobs, link cards).
// It feeds `conflux dev` and the benchmarks, so the rest of the pipeline sees
// traffic shaped like the real network's.
//
// # Shape
//
// A Driver plans every action in one goroutine (the planner) and executes
// them on a bounded pool of workers. User i always runs on worker i mod W, so
// one user's writes are applied in the order they were planned while
// different users' writes run concurrently.
//
// # Determinism
//
// The planner alone draws from the seeded random source and alone reads and
// updates the in-memory model of what exists (posts, likes, reposts, follows,
// profiles). Each record's key (a TID from Config.Now) and CID (computed
// locally from its DAG-CBOR encoding) are fixed at planning time, so later
// actions can refer to a record that is still in flight. The sequence of
// actions and their content therefore depends only on the seed, the user DIDs
// and Config.Now, never on scheduling; with a fixed Now two runs write the
// same records under the same keys, so every repository has the same MST
// root (commits still differ: the host picks revs and signs).
//
// The cost of planning ahead is that the model can be ahead of the host: a
// write that failed leaves a record the model believes in. Deleting it later
// fails with ErrNotFound, which the driver counts as a race (Stats.NotFound)
// rather than a failure of the host. A post deleted by its author leaves the
// shared pool at planning time, so no action planned afterwards targets it;
// likes planned before the delete may still land after it, as on the real
// network.
//
// # Facets
//
// DetectFacets finds mentions, links and hashtags in free text with UTF-8
// byte offsets, as app.bsky.richtext.facet requires. The generator builds its
// facets while composing the text and the tests check that DetectFacets
// finds exactly the same ones; `conflux post` uses DetectFacets on user text.
package synth
