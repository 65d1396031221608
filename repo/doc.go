// Package repo is the atproto repository data model: signed v3 commits, the
// record ops between two trees, the CAR slice a sync 1.1 #commit carries, and
// the proof check a receiver runs on one.
//
// Its subpackages are the parts: cid (content identifiers), dagcbor
// (deterministic DAG-CBOR and its JSON form), car (CAR v1), mst (the Merkle
// Search Tree), crypto (P-256 and secp256k1 keys, did:key) and syntax
// (identifiers). Everything here is pure: no goroutines, timers or network.
//
// The proof check (CheckCommitProof) is what makes a firehose "inductive":
// given only a #commit's CAR slice, ops and prevData, a receiver inverts the
// ops on the partial tree the slice carries and must arrive at prevData. A
// needed node missing from the slice fails the check, never a wrong answer;
// so a producer must include the neighbouring nodes that a split or a merge
// touches (CommitSlice does, via mst.ProofBlocks).
package repo
