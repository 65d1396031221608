package firehose

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// commitBody is a well-formed #commit body as generic values, for the cases
// that break one thing in it.
func commitBody() map[string]any {
	return map[string]any{
		"seq": int64(1), "rebase": false, "tooBig": false, "repo": "did:plc:a",
		"commit": link("c"), "rev": "2222222222222", "since": nil, "blocks": []byte{1},
		"ops": []any{}, "blobs": []any{}, "time": "2025-01-01T00:00:00.000Z",
	}
}

func manyOps(n int) []any {
	ops := make([]any, n)
	for i := range ops {
		ops[i] = map[string]any{"action": "create", "path": "a.b.c/" + strings.Repeat("x", i%7+1), "cid": link("r")}
	}
	return ops
}

type rejectCase struct {
	name  string
	frame []byte
	want  error
}

func rejectCases(t testing.TB) []rejectCase {
	commitHdr := unhex(t, "a261746723636f6d6d6974626f7001")
	identityHdr := unhex(t, "a2617469236964656e74697479626f7001")
	enc := func(v any) []byte {
		b, err := dagcbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	with := func(k string, v any) []byte {
		b := commitBody()
		b[k] = v
		return concat(commitHdr, enc(b))
	}
	good := concat(commitHdr, enc(commitBody()))
	identity := enc(map[string]any{"seq": int64(1), "did": "did:plc:a", "time": "t"})
	return []rejectCase{
		{"empty", nil, ErrBadFrame},
		{"three items", concat(good, []byte{0xa0}), ErrBadFrame},
		{"three items, same body twice", concat(commitHdr, enc(commitBody()), enc(commitBody())), ErrBadFrame},
		{"no body", commitHdr, ErrBadFrame},
		{"truncated body", good[:len(good)-1], ErrBadFrame},
		{"truncated header", commitHdr[:5], ErrBadFrame},
		{"truncated link", good[:len(commitHdr)+60], ErrBadFrame},
		{"op 2", concat(unhex(t, "a261746723636f6d6d6974626f7002"), enc(commitBody())), ErrBadFrame},
		{"op 0", concat(unhex(t, "a261746723636f6d6d6974626f7000"), enc(commitBody())), ErrBadFrame},
		{"op 1 without t", concat(unhex(t, "a1626f7001"), identity), ErrBadFrame},
		{"op 1 with empty t", concat(unhex(t, "a2617460626f7001"), identity), ErrBadFrame},
		{"no op", concat(unhex(t, "a161746923696465746974"), identity), ErrBadFrame},
		{"op not an int", concat(unhex(t, "a1626f706131"), identity), ErrBadFrame},
		{"t not text", concat(unhex(t, "a2617401626f7001"), identity), ErrBadFrame},
		{"header an int", concat([]byte{0x01}, identity), ErrBadFrame},
		{"header an array", concat(unhex(t, "82012b"), identity), ErrBadFrame},
		{"header a text", concat(unhex(t, "6723636f6d6d6974"), identity), ErrBadFrame},
		{"header keys unsorted", concat(unhex(t, "a2626f700161746723636f6d6d6974"), enc(commitBody())), dagcbor.ErrNotCanonical},
		{"header op not shortest", concat(unhex(t, "a261746723636f6d6d6974626f701801"), enc(commitBody())), dagcbor.ErrNotCanonical},
		{"header indefinite map", concat(unhex(t, "bf626f7001ff"), identity), ErrBadFrame},
		{"body keys unsorted", concat(identityHdr, unhex(t, "a363736571016364696469646964646974696d656174")), dagcbor.ErrNotCanonical},
		{"body truncated key", concat(identityHdr, unhex(t, "a1637365")), ErrBadFrame},
		{"body float seq", concat(identityHdr, unhex(t, "a163736571f93c00")), dagcbor.ErrForbidden},
		{"body not a map", concat(identityHdr, unhex(t, "8101")), ErrBadFrame},
		{"unknown type body not a map", concat(unhex(t, "a2617466236c6162656c626f7001"), unhex(t, "01")), ErrBadFrame},
		{"unknown type body not canonical", concat(unhex(t, "a2617466236c6162656c626f7001"), unhex(t, "a161731817")), dagcbor.ErrNotCanonical},
		{"seq a string", with("seq", "1"), ErrBadFrame},
		{"rebase an int", with("rebase", int64(0)), ErrBadFrame},
		{"repo null", with("repo", nil), ErrBadFrame},
		{"blocks text", with("blocks", "CAR"), ErrBadFrame},
		{"blobs null", with("blobs", nil), ErrBadFrame},
		{"blobs of null", with("blobs", []any{nil}), ErrBadFrame},
		{"blobs of a thousand ints", with("blobs", manyInts(1000)), ErrBadFrame},
		{"ops a map", with("ops", map[string]any{}), ErrBadFrame},
		{"op not a map", with("ops", []any{"create"}), ErrBadFrame},
		{"op cid a string", with("ops", []any{map[string]any{"action": "create", "path": "a/b", "cid": "bafy"}}), ErrBadFrame},
		{"commit bytes", with("commit", link("c").Bytes()), ErrBadFrame},
		{"frame over 5,000,000", make([]byte, MaxFrameSize+1), ErrFrameTooBig},
		{"blocks over 2,000,000", with("blocks", make([]byte, MaxBlocksSize+1)), ErrBlocksTooBig},
		{"sync blocks over 2,000,000", concat(unhex(t, "a26174652373796e63626f7001"),
			enc(map[string]any{"blocks": make([]byte, MaxBlocksSize+1)})), ErrBlocksTooBig},
		{"201 ops", with("ops", manyOps(MaxOps+1)), ErrTooManyOps},
		{"deep nesting in an unknown field", with("x", nest(200)), dagcbor.ErrLimit},
	}
}

func manyInts(n int) []any {
	a := make([]any, n)
	for i := range a {
		a[i] = int64(1)
	}
	return a
}

func nest(depth int) any {
	var v any = int64(1)
	for range depth {
		v = []any{v}
	}
	return v
}

func TestRejections(t *testing.T) {
	t.Parallel()
	for _, c := range rejectCases(t) {
		f, err := DecodeFrame(c.frame)
		if err == nil {
			t.Errorf("%s: decoded %+v, want an error", c.name, f)
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

// TestLimitsAccepted: exactly at the limits is fine.
func TestLimitsAccepted(t *testing.T) {
	t.Parallel()
	c := &Commit{Repo: "did:plc:a", Commit: link("c"), Blocks: make([]byte, MaxBlocksSize)}
	for i := range MaxOps {
		c.Ops = append(c.Ops, RepoOp{Action: "create", Path: "a.b.c/" + strings.Repeat("k", i+1), CID: link("r")})
	}
	b, err := EncodeFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Msg.(*Commit); len(got.Ops) != MaxOps || len(got.Blocks) != MaxBlocksSize {
		t.Errorf("got %d ops, %d bytes", len(got.Ops), len(got.Blocks))
	}
}

// TestEncodeRefuses: the encoder does not write frames the decoder rejects.
func TestEncodeRefuses(t *testing.T) {
	t.Parallel()
	hugePath := strings.Repeat("p", 30_000)
	tooBig := &Commit{}
	for range MaxOps {
		tooBig.Ops = append(tooBig.Ops, RepoOp{Action: "create", Path: hugePath})
	}
	cases := []struct {
		name string
		msg  Message
		want error
	}{
		{"blocks", &Commit{Blocks: make([]byte, MaxBlocksSize+1)}, ErrBlocksTooBig},
		{"sync blocks", &Sync{Blocks: make([]byte, MaxBlocksSize+1)}, ErrBlocksTooBig},
		{"ops", &Commit{Ops: make([]RepoOp, MaxOps+1)}, ErrTooManyOps},
		{"frame", tooBig, ErrFrameTooBig},
		{"invalid UTF-8", &Identity{DID: "did:plc:\xff"}, ErrBadFrame},
		{"invalid UTF-8 in an op", &Commit{Ops: []RepoOp{{Path: "\xc0"}}}, ErrBadFrame},
		{"undefined blob", &Commit{Blobs: []cid.CID{cid.Undef}}, ErrBadFrame},
	}
	for _, c := range cases {
		dst := []byte("keep")
		out, err := AppendFrame(dst, c.msg)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if !bytes.Equal(out, []byte("keep")) {
			t.Errorf("%s: dst changed to %q", c.name, out)
		}
	}
	for _, m := range []Message{nil, (*Commit)(nil), (*ErrorFrame)(nil)} {
		if _, err := EncodeFrame(m); err == nil {
			t.Errorf("EncodeFrame(%T nil) succeeded", m)
		}
		if _, ok := (Frame{Msg: m}).Seq(); ok {
			t.Errorf("Seq of %T nil is ok", m)
		}
	}
}

// TestPeekSeqErrors: PeekSeq checks the header like DecodeFrame.
func TestPeekSeqErrors(t *testing.T) {
	t.Parallel()
	for _, c := range rejectCases(t) {
		headerCase := strings.HasPrefix(c.name, "header") || strings.HasPrefix(c.name, "truncated header")
		switch c.name {
		case "empty", "no body", "op 2", "op 0", "op 1 without t", "op 1 with empty t", "no op",
			"op not an int", "t not text", "frame over 5,000,000":
			headerCase = true
		}
		if !headerCase {
			continue
		}
		if _, _, err := PeekSeq(c.frame); err == nil {
			t.Errorf("%s: PeekSeq succeeded", c.name)
		}
	}
	info, err := EncodeFrame(&Info{Name: InfoOutdatedCursor})
	if err != nil {
		t.Fatal(err)
	}
	if seq, ok, err := PeekSeq(info); ok || err != nil {
		t.Errorf("PeekSeq(#info) = %d, %v, %v", seq, ok, err)
	}
	noSeq := concat(unhex(t, "a2617469236964656e74697479626f7001"), unhex(t, "a0"))
	if seq, ok, err := PeekSeq(noSeq); seq != 0 || !ok || err != nil {
		t.Errorf("PeekSeq without seq = %d, %v, %v; want 0 as DecodeFrame gives", seq, ok, err)
	}
}
