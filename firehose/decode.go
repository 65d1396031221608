package firehose

import (
	"errors"
	"fmt"

	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// bodyLimits lets the frame limits decide: the dagcbor defaults would stop a
// large blocks or a long ops array with a generic error before this package
// could name it.
func bodyLimits() dagcbor.Limits {
	return dagcbor.Limits{MaxSize: MaxFrameSize, MaxLen: MaxFrameSize, MaxStringLen: MaxFrameSize}
}

// header is a decoded frame header.
type header struct {
	op int64
	t  string
}

// DecodeFrame decodes one frame. See the package doc for what is an error and
// what is skipped. The returned message aliases b (Blocks).
func DecodeFrame(b []byte) (Frame, error) {
	h, body, err := splitFrame(b)
	if err != nil {
		return Frame{}, err
	}
	if err := bodyLimits().Valid(body); err != nil {
		if errors.Is(err, dagcbor.ErrTrailing) {
			return Frame{}, fmt.Errorf("%w: more than two CBOR items: %w", ErrBadFrame, err)
		}
		return Frame{}, fmt.Errorf("%w: body: %w", ErrBadFrame, err)
	}
	d := decoder{b: body}
	if h.op == OpError {
		m, err := decodeError(&d)
		if err != nil {
			return Frame{}, err
		}
		return Frame{Op: OpError, Msg: m}, nil
	}
	f := Frame{Op: OpMessage, Type: h.t}
	switch h.t {
	case TypeCommit:
		f.Msg, err = decodeCommit(&d)
	case TypeSync:
		f.Msg, err = decodeSync(&d)
	case TypeIdentity:
		f.Msg, err = decodeIdentity(&d)
	case TypeAccount:
		f.Msg, err = decodeAccount(&d)
	case TypeInfo:
		f.Msg, err = decodeInfo(&d)
	default:
		// An unknown type is skipped, not fatal, but its body must still be a
		// map: that much is framing.
		_, err = d.mapHead("body")
	}
	if err != nil {
		return Frame{}, fmt.Errorf("decode %s: %w", h.t, err)
	}
	return f, nil
}

// splitFrame checks the size, decodes and checks the header and returns the
// bytes after it.
func splitFrame(b []byte) (header, []byte, error) {
	if len(b) > MaxFrameSize {
		return header{}, nil, fmt.Errorf("%w: %d bytes", ErrFrameTooBig, len(b))
	}
	d := decoder{b: b}
	if err := d.skip(); err != nil {
		return header{}, nil, fmt.Errorf("header: %w", err)
	}
	raw := b[:d.off]
	if err := dagcbor.Valid(raw); err != nil {
		return header{}, nil, fmt.Errorf("%w: header: %w", ErrBadFrame, err)
	}
	h, err := parseHeader(raw)
	if err != nil {
		return header{}, nil, err
	}
	if d.off == len(b) {
		return header{}, nil, fmt.Errorf("%w: no body after the header", ErrBadFrame)
	}
	return h, b[d.off:], nil
}

// parseHeader reads {t?, op}: op must be 1 (with a non-empty t) or -1 (t is
// then ignored: the TypeScript form omits it, cbor-gen writes "").
func parseHeader(raw []byte) (header, error) {
	d := decoder{b: raw}
	n, err := d.mapHead("header")
	if err != nil {
		return header{}, err
	}
	var h header
	hasOp, hasT := false, false
	for range n {
		k, err := d.key()
		if err != nil {
			return header{}, err
		}
		switch string(k) {
		case "op":
			h.op, err = d.int("header op")
			hasOp = true
		case "t":
			h.t, err = d.headerType()
			hasT = true
		default:
			err = d.skip()
		}
		if err != nil {
			return header{}, err
		}
	}
	switch {
	case !hasOp:
		return header{}, fmt.Errorf("%w: header has no op", ErrBadFrame)
	case h.op == OpError:
		h.t = ""
	case h.op != OpMessage:
		return header{}, fmt.Errorf("%w: unknown header op %d", ErrBadFrame, h.op)
	case !hasT || h.t == "":
		return header{}, fmt.Errorf("%w: message header without t", ErrBadFrame)
	}
	return h, nil
}

// PeekSeq returns the seq of a #commit, #sync, #identity or #account frame
// without decoding the rest of the body; false for other frames. It checks the
// header as DecodeFrame does but reads only the body's top-level keys, so a
// frame it accepts may still fail DecodeFrame. A body without seq gives 0, as
// DecodeFrame does.
func PeekSeq(b []byte) (int64, bool, error) {
	h, body, err := splitFrame(b)
	if err != nil {
		return 0, false, err
	}
	switch h.t {
	case TypeCommit, TypeSync, TypeIdentity, TypeAccount:
	default:
		return 0, false, nil
	}
	d := decoder{b: body}
	n, err := d.mapHead("body")
	if err != nil {
		return 0, false, err
	}
	for range n {
		k, err := d.key()
		if err != nil {
			return 0, false, err
		}
		if string(k) == "seq" {
			seq, err := d.int("seq")
			return seq, err == nil, err
		}
		if err := d.skip(); err != nil {
			return 0, false, err
		}
	}
	// As in DecodeFrame, a missing field is its zero value.
	return 0, true, nil
}

// fields walks a body map, calling field for each key; field reads the value
// and returns false for a key it does not know, which is then skipped.
func fields(d *decoder, what string, field func(k []byte) (bool, error)) error {
	n, err := d.mapHead(what)
	if err != nil {
		return err
	}
	for range n {
		k, err := d.key()
		if err != nil {
			return err
		}
		known, err := field(k)
		if err == nil && !known {
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func decodeCommit(d *decoder) (*Commit, error) {
	c := &Commit{}
	err := fields(d, "#commit body", func(k []byte) (known bool, err error) {
		switch string(k) {
		case "seq":
			c.Seq, err = d.int("seq")
		case "rebase":
			c.Rebase, err = d.bool("rebase")
		case "tooBig":
			c.TooBig, err = d.bool("tooBig")
		case "repo":
			c.Repo, err = d.text("repo")
		case "commit":
			c.Commit, err = d.linkOrNull("commit")
		case "rev":
			c.Rev, err = d.text("rev")
		case "since":
			c.Since, err = d.textOrNull("since")
		case "blocks":
			c.Blocks, err = d.bytes("blocks", MaxBlocksSize, ErrBlocksTooBig)
		case "ops":
			c.Ops, err = decodeOps(d)
		case "blobs":
			c.Blobs, err = decodeBlobs(d)
		case "prevData":
			c.PrevData, err = d.linkOrNull("prevData")
		case "time":
			c.Time, err = d.text("time")
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// decodeOps reads the ops array; an empty one is nil (see decoder.bytes).
func decodeOps(d *decoder) ([]RepoOp, error) {
	n, err := d.arrayHead("ops")
	if err != nil {
		return nil, err
	}
	if n > MaxOps {
		return nil, fmt.Errorf("%w: %d ops", ErrTooManyOps, n)
	}
	if n == 0 {
		return nil, nil
	}
	ops := make([]RepoOp, n)
	for i := range ops {
		if err := decodeRepoOp(d, &ops[i]); err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
	}
	return ops, nil
}

func decodeRepoOp(d *decoder, op *RepoOp) error {
	return fields(d, "repoOp", func(k []byte) (known bool, err error) {
		switch string(k) {
		case "action":
			op.Action, err = d.action()
		case "path":
			op.Path, err = d.text("path")
		case "cid":
			op.CID, err = d.linkOrNull("cid")
		case "prev":
			op.Prev, err = d.linkOrNull("prev")
		default:
			return false, nil
		}
		return true, err
	})
}

// decodeBlobs reads the deprecated blobs array. cbor-gen writes it as an
// array even when empty and refuses null, and so does this.
func decodeBlobs(d *decoder) ([]cid.CID, error) {
	n, err := d.arrayHead("blobs")
	if err != nil || n == 0 {
		return nil, err
	}
	// Each link takes 41 bytes: checking that first keeps a hostile count
	// from allocating more than the frame's size.
	if n > d.remaining()/linkSize {
		return nil, fmt.Errorf("%w: blobs: %d links cannot fit in %d bytes", ErrBadFrame, n, d.remaining())
	}
	blobs := make([]cid.CID, n)
	for i := range blobs {
		if blobs[i], err = d.link("blobs"); err != nil {
			return nil, err
		}
	}
	return blobs, nil
}

func decodeSync(d *decoder) (*Sync, error) {
	s := &Sync{}
	err := fields(d, "#sync body", func(k []byte) (known bool, err error) {
		switch string(k) {
		case "seq":
			s.Seq, err = d.int("seq")
		case "did":
			s.DID, err = d.text("did")
		case "rev":
			s.Rev, err = d.text("rev")
		case "blocks":
			s.Blocks, err = d.bytes("blocks", MaxBlocksSize, ErrBlocksTooBig)
		case "time":
			s.Time, err = d.text("time")
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func decodeIdentity(d *decoder) (*Identity, error) {
	i := &Identity{}
	err := fields(d, "#identity body", func(k []byte) (known bool, err error) {
		switch string(k) {
		case "seq":
			i.Seq, err = d.int("seq")
		case "did":
			i.DID, err = d.text("did")
		case "time":
			i.Time, err = d.text("time")
		case "handle":
			i.Handle, err = d.textOrNull("handle")
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return i, nil
}

func decodeAccount(d *decoder) (*Account, error) {
	a := &Account{}
	err := fields(d, "#account body", func(k []byte) (known bool, err error) {
		switch string(k) {
		case "seq":
			a.Seq, err = d.int("seq")
		case "did":
			a.DID, err = d.text("did")
		case "time":
			a.Time, err = d.text("time")
		case "active":
			a.Active, err = d.bool("active")
		case "status":
			a.Status, err = d.textOrNull("status")
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func decodeInfo(d *decoder) (*Info, error) {
	i := &Info{}
	err := fields(d, "#info body", func(k []byte) (known bool, err error) {
		switch string(k) {
		case "name":
			i.Name, err = d.text("name")
		case "message":
			i.Message, err = d.textOrNull("message")
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return i, nil
}

func decodeError(d *decoder) (*ErrorFrame, error) {
	f := &ErrorFrame{}
	err := fields(d, "error body", func(k []byte) (known bool, err error) {
		switch string(k) {
		case "error":
			f.Error, err = d.text("error")
		case "message":
			f.Message, err = d.textOrNull("message")
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, fmt.Errorf("decode error frame: %w", err)
	}
	return f, nil
}
