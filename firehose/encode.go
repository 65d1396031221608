package firehose

import (
	"fmt"
	"unicode/utf8"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// CBOR major types, shifted into the initial byte.
const (
	majUint  = 0 << 5
	majNeg   = 1 << 5
	majBytes = 2 << 5
	majText  = 3 << 5
	majArray = 4 << 5
	majMap   = 5 << 5
	majTag   = 6 << 5

	cborFalse = 0xf4
	cborTrue  = 0xf5
	cborNull  = 0xf6
)

// headerErr is the error frame header {op: -1}, the TypeScript form: the spec
// says to omit t when op is -1.
const headerErr = "\xa1\x62op\x20"

// EncodeFrame returns the frame (header and body) of m.
func EncodeFrame(m Message) ([]byte, error) {
	return AppendFrame(make([]byte, 0, sizeHint(m)), m)
}

// AppendFrame appends the frame of m to dst and returns the extended slice. On
// error dst is returned unchanged in length.
func AppendFrame(dst []byte, m Message) ([]byte, error) {
	if isNil(m) {
		return dst, fmt.Errorf("firehose: cannot encode a nil %T", m)
	}
	start := len(dst)
	e := encoder{b: dst}
	if _, ok := m.(*ErrorFrame); ok {
		e.b = append(e.b, headerErr...)
	} else {
		e.header(m.frameType())
	}
	e.body(m)
	if e.err == nil && len(e.b)-start > MaxFrameSize {
		e.err = fmt.Errorf("%w: %s is %d bytes", ErrFrameTooBig, typeName(m), len(e.b)-start)
	}
	if e.err != nil {
		return dst[:start], e.err
	}
	return e.b, nil
}

// appendBody appends the body of m alone, for the JSON form.
func appendBody(dst []byte, m Message) ([]byte, error) {
	if isNil(m) {
		return dst, fmt.Errorf("firehose: cannot encode a nil %T", m)
	}
	e := encoder{b: dst}
	e.body(m)
	return e.b, e.err
}

// isNil reports a nil interface or a nil pointer in one.
func isNil(m Message) bool {
	switch m := m.(type) {
	case *Commit:
		return m == nil
	case *Sync:
		return m == nil
	case *Identity:
		return m == nil
	case *Account:
		return m == nil
	case *Info:
		return m == nil
	case *ErrorFrame:
		return m == nil
	}
	return true
}

// body writes the body of m, which is not nil.
func (e *encoder) body(m Message) {
	switch m := m.(type) {
	case *Commit:
		e.commit(m)
	case *Sync:
		e.sync(m)
	case *Identity:
		e.identity(m)
	case *Account:
		e.account(m)
	case *Info:
		e.info(m)
	case *ErrorFrame:
		e.errorBody(m)
	}
}

func typeName(m Message) string {
	if t := m.frameType(); t != "" {
		return t
	}
	return "error frame"
}

// sizeHint is enough for the frame of m in one allocation in the usual case.
func sizeHint(m Message) int {
	const fixed = 256 // header, keys, seq, repo, rev, time, commit link
	switch m := m.(type) {
	case *Commit:
		if m != nil {
			return fixed + len(m.Blocks) + len(m.Ops)*160 + len(m.Blobs)*41
		}
	case *Sync:
		if m != nil {
			return fixed + len(m.Blocks)
		}
	}
	return fixed
}

// encoder appends canonical CBOR. The first error sticks; later writes are
// still made but the result is discarded.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// head writes an initial byte with its argument in shortest form.
func (e *encoder) head(major byte, n uint64) {
	switch {
	case n < 24:
		e.b = append(e.b, major|byte(n))
	case n <= 0xff:
		e.b = append(e.b, major|24, byte(n))
	case n <= 0xffff:
		e.b = append(e.b, major|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		e.b = append(e.b, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		e.b = append(e.b, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// key writes a map key: one of this package's ASCII field names.
func (e *encoder) key(k string) {
	e.head(majText, uint64(len(k)))
	e.b = append(e.b, k...)
}

// text writes a text string, which must be valid UTF-8 to be DAG-CBOR.
func (e *encoder) text(field, s string) {
	if !utf8.ValidString(s) {
		e.fail(fmt.Errorf("%w: %s is not valid UTF-8", ErrBadFrame, field))
	}
	e.head(majText, uint64(len(s)))
	e.b = append(e.b, s...)
}

// textOrNull writes "" as null: the form of a nullable string (since).
func (e *encoder) textOrNull(field, s string) {
	if s == "" {
		e.b = append(e.b, cborNull)
		return
	}
	e.text(field, s)
}

func (e *encoder) bytes(b []byte) {
	e.head(majBytes, uint64(len(b)))
	e.b = append(e.b, b...)
}

func (e *encoder) int(n int64) {
	if n >= 0 {
		e.head(majUint, uint64(n))
	} else {
		e.head(majNeg, uint64(-(n + 1)))
	}
}

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, cborTrue)
	} else {
		e.b = append(e.b, cborFalse)
	}
}

// link writes a link, or null for the undefined CID.
func (e *encoder) link(c cid.CID) {
	if !c.Defined() {
		e.b = append(e.b, cborNull)
		return
	}
	e.b = c.AppendCBOR(e.b)
}

// header writes {t, op: 1}; t sorts first, being the shorter key.
func (e *encoder) header(t string) {
	e.b = append(e.b, majMap|2)
	e.key("t")
	e.text("t", t)
	e.key("op")
	e.int(OpMessage)
}

// commit writes a #commit body. Key order: ops rev seq repo time blobs since
// blocks commit rebase tooBig prevData.
func (e *encoder) commit(c *Commit) {
	// Over a limit, fail before copying what may be a huge value.
	if len(c.Blocks) > MaxBlocksSize {
		e.fail(fmt.Errorf("%w: %d bytes", ErrBlocksTooBig, len(c.Blocks)))
		return
	}
	if len(c.Ops) > MaxOps {
		e.fail(fmt.Errorf("%w: %d ops", ErrTooManyOps, len(c.Ops)))
		return
	}
	n := uint64(11)
	if c.PrevData.Defined() {
		n++
	}
	e.head(majMap, n)
	e.key("ops")
	e.head(majArray, uint64(len(c.Ops)))
	for i := range c.Ops {
		e.repoOp(&c.Ops[i])
	}
	e.key("rev")
	e.text("rev", c.Rev)
	e.key("seq")
	e.int(c.Seq)
	e.key("repo")
	e.text("repo", c.Repo)
	e.key("time")
	e.text("time", c.Time)
	e.key("blobs")
	e.head(majArray, uint64(len(c.Blobs)))
	for _, b := range c.Blobs {
		if !b.Defined() {
			e.fail(fmt.Errorf("%w: undefined CID in blobs", ErrBadFrame))
		}
		e.link(b)
	}
	e.key("since")
	e.textOrNull("since", c.Since)
	e.key("blocks")
	e.bytes(c.Blocks)
	e.key("commit")
	e.link(c.Commit)
	e.key("rebase")
	e.bool(c.Rebase)
	e.key("tooBig")
	e.bool(c.TooBig)
	if c.PrevData.Defined() {
		e.key("prevData")
		e.link(c.PrevData)
	}
}

// repoOp writes {cid, path, prev?, action}.
func (e *encoder) repoOp(op *RepoOp) {
	n := uint64(3)
	if op.Prev.Defined() {
		n++
	}
	e.head(majMap, n)
	e.key("cid")
	e.link(op.CID)
	e.key("path")
	e.text("path", op.Path)
	if op.Prev.Defined() {
		e.key("prev")
		e.link(op.Prev)
	}
	e.key("action")
	e.text("action", op.Action)
}

// sync writes {did, rev, seq, time, blocks}.
func (e *encoder) sync(s *Sync) {
	if len(s.Blocks) > MaxBlocksSize {
		e.fail(fmt.Errorf("%w: #sync blocks %d bytes", ErrBlocksTooBig, len(s.Blocks)))
		return
	}
	e.head(majMap, 5)
	e.key("did")
	e.text("did", s.DID)
	e.key("rev")
	e.text("rev", s.Rev)
	e.key("seq")
	e.int(s.Seq)
	e.key("time")
	e.text("time", s.Time)
	e.key("blocks")
	e.bytes(s.Blocks)
}

// identity writes {did, seq, time, handle?}.
func (e *encoder) identity(i *Identity) {
	e.head(majMap, 3+count(i.Handle))
	e.key("did")
	e.text("did", i.DID)
	e.key("seq")
	e.int(i.Seq)
	e.key("time")
	e.text("time", i.Time)
	if i.Handle != "" {
		e.key("handle")
		e.text("handle", i.Handle)
	}
}

// account writes {did, seq, time, active, status?}.
func (e *encoder) account(a *Account) {
	e.head(majMap, 4+count(a.Status))
	e.key("did")
	e.text("did", a.DID)
	e.key("seq")
	e.int(a.Seq)
	e.key("time")
	e.text("time", a.Time)
	e.key("active")
	e.bool(a.Active)
	if a.Status != "" {
		e.key("status")
		e.text("status", a.Status)
	}
}

// info writes {name, message?}.
func (e *encoder) info(i *Info) {
	e.head(majMap, 1+count(i.Message))
	e.key("name")
	e.text("name", i.Name)
	if i.Message != "" {
		e.key("message")
		e.text("message", i.Message)
	}
}

// errorBody writes {error, message?}.
func (e *encoder) errorBody(f *ErrorFrame) {
	e.head(majMap, 1+count(f.Message))
	e.key("error")
	e.text("error", f.Error)
	if f.Message != "" {
		e.key("message")
		e.text("message", f.Message)
	}
}

// count is 1 for an optional string that is present.
func count(s string) uint64 {
	if s == "" {
		return 0
	}
	return 1
}
