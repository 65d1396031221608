package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// accountV1 marks the binary account record:
//
//	0x01 | uvarint uid | str host | str rev | cid commit | cid data |
//	str upstream | byte upstreamActive | uvarint breaks
//
// where str is a uvarint length and the bytes, and cid is a uvarint length
// (0 for undefined) and the binary CID. The DID is the key. Records written
// before this form are JSON objects, so their first byte is '{'.
const accountV1 = 0x01

var errBadRecord = errors.New("malformed account record")

func appendAccount(dst []byte, a *Account) []byte {
	dst = append(dst, accountV1)
	dst = binary.AppendUvarint(dst, a.UID)
	dst = appendStr(dst, a.Host)
	dst = appendStr(dst, a.Rev)
	dst = appendCID(dst, a.Commit)
	dst = appendCID(dst, a.Data)
	dst = appendStr(dst, a.Upstream)
	active := byte(0)
	if a.UpstreamActive {
		active = 1
	}
	dst = append(dst, active)
	return binary.AppendUvarint(dst, uint64(a.Breaks))
}

func appendStr(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func appendCID(dst []byte, c cid.CID) []byte {
	if !c.Defined() {
		return append(dst, 0)
	}
	var raw [cid.Len]byte
	b := c.AppendBytes(raw[:0])
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// decodeAccount reads either record form.
func decodeAccount(did string, b []byte) (*Account, error) {
	if len(b) > 0 && b[0] == '{' {
		var a Account
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		return &a, nil
	}
	if len(b) == 0 || b[0] != accountV1 {
		return nil, fmt.Errorf("%w: version", errBadRecord)
	}
	d := recordReader{b: b[1:]}
	a := &Account{DID: did}
	a.UID = d.uvarint()
	a.Host = d.str()
	a.Rev = d.str()
	a.Commit = d.cid()
	a.Data = d.cid()
	a.Upstream = d.str()
	a.UpstreamActive = d.byte() == 1
	a.Breaks = int64(d.uvarint())
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadRecord, len(d.b))
	}
	return a, nil
}

// recordReader decodes the fields of a binary record; the first failure
// sticks, so callers check err once at the end.
type recordReader struct {
	b   []byte
	err error
}

func (d *recordReader) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errBadRecord, what)
	}
	d.b = nil
}

func (d *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordReader) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("length")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *recordReader) str() string { return string(d.bytes()) }

func (d *recordReader) cid() cid.CID {
	raw := d.bytes()
	if len(raw) == 0 {
		return cid.Undef
	}
	c, err := cid.Parse(raw)
	if err != nil {
		d.fail("cid")
	}
	return c
}

func (d *recordReader) byte() byte {
	if len(d.b) == 0 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}
