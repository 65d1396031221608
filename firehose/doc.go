// Package firehose is the wire format of com.atproto.sync.subscribeRepos: the
// message types of the repository event stream and their frames.
//
// # Frames
//
// A frame is one binary WebSocket message holding exactly two DAG-CBOR items
// back to back: a header map {t, op} and a body map. op 1 is a message whose
// type is the header's t (#commit, #sync, #identity, #account, #info); op -1
// is an error frame, whose body is {error, message?}. EncodeFrame and
// AppendFrame write frames; DecodeFrame reads them into a Frame.
//
// # Encoding
//
// Frames are written byte for byte as the reference encoders write them
// (cbor-gen in indigo; the TypeScript PDS agrees for these shapes), so a
// frame re-encoded from its decoded value is the frame that was received:
//   - map keys in canonical order (shorter first, then bytewise);
//   - nullable-but-required fields (#commit since, repoOp cid) written as
//     null when empty; optional ones (prevData, repoOp prev, handle, status,
//     message) omitted when empty; blocks and the deprecated blobs always
//     written, blobs as an empty array;
//   - the error header as {op:-1}, without t (the TypeScript form). Decoding
//     also accepts cbor-gen's {t:"", op:-1}.
//
// The encoder is hand-written rather than reflective: every event of a relay
// or host is encoded once and decoded by every hop, so this is a hot path.
// It refuses to produce a frame that DecodeFrame would reject (over a size
// limit, invalid UTF-8).
//
// # Decoding
//
// Decoding is strict about framing and lenient about content, as the spec
// asks: bad CBOR or framing is an error (the caller drops the connection),
// while an unknown t gives a Frame with a nil Msg (skip it) and unknown body
// fields are ignored. Each item must be canonical DAG-CBOR (checked with
// dagcbor.Valid before any value is built), a third item is an error, and
// the size limits (MaxFrameSize, MaxBlocksSize, MaxOps) fail with their own
// sentinel errors. A field of the wrong type is an error (as in cbor-gen); a
// missing field decodes as its zero value, which the receiver's checks
// (repo.CheckCommitProof) then catch.
//
// Decoded values alias the frame: Blocks is a sub-slice of the input, not a
// copy, so the input must not be modified while the value is in use.
//
// Strings such as Time are kept as received: intermediaries pass time through,
// and a relay re-emitting an event must not reformat it.
package firehose
