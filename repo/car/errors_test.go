package car

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"io"
	"testing"

	"github.com/conflux-atproto/conflux/repo/cid"
)

type errorCase struct {
	name string
	in   []byte
	lim  Limits
	want []error // every one must match with errors.Is
}

// rawHeader length-prefixes a hand-built header map.
func rawHeader(h ...[]byte) []byte {
	body := concat(h...)
	return append(appendUvarint(nil, uint64(len(body))), body...)
}

func errorCases() []errorCase {
	a, b, c := blockOf(cid.DagCBOR, "\xa1aa\x01"), blockOf(cid.Raw, "b"), blockOf(cid.Raw, "c")
	root := a.CID
	hdr := Encode([]cid.CID{root}, nil)
	good := Encode([]cid.CID{root}, []Block{a, b, c})
	secA := section(a.CID.Bytes(), a.Data)
	link := root.AppendCBOR(nil)
	roots := keyRoots
	version := keyVersion

	pbCID := append([]byte{0x01, 0x70, 0x12, 0x20}, make([]byte, 32)...) // dag-pb
	v0Digest := sha256.Sum256(a.Data)
	v0CID := append([]byte{0x12, 0x20}, v0Digest[:]...)
	sha512Digest := sha512.Sum512(a.Data)
	sha512CID := append([]byte{0x01, 0x71, 0x13, 0x40}, sha512Digest[:]...)
	pbLink := append([]byte{0xd8, 0x2a, 0x58, 0x25, 0x00}, pbCID...)

	eof := io.ErrUnexpectedEOF
	return []errorCase{
		// Block content.
		{name: "hash mismatch", in: concat(hdr, section(a.CID.Bytes(), []byte("\xa1aa\x02"))), want: []error{ErrHashMismatch}},
		{name: "hash mismatch, raw codec", in: concat(hdr, section(b.CID.Bytes(), []byte("B"))), want: []error{ErrHashMismatch}},
		{name: "CIDv0 block", in: concat(hdr, section(v0CID, a.Data)), want: []error{cid.ErrVersion}},
		{name: "dag-pb block", in: concat(hdr, section(pbCID, a.Data)), want: []error{cid.ErrCodec}},
		{name: "sha2-512 block", in: concat(hdr, section(sha512CID, a.Data)), want: []error{cid.ErrHash}},
		{name: "empty section", in: concat(hdr, []byte{0x00}), want: []error{cid.ErrTooShort}},
		{name: "section shorter than a CID", in: concat(hdr, section(a.CID.Bytes()[:20], nil)), want: []error{cid.ErrTooShort}},

		// Truncation.
		{name: "empty input", in: nil, want: []error{eof}},
		{name: "header length cut", in: []byte{0xba}, want: []error{eof}},
		{name: "header cut", in: hdr[:30], want: []error{eof}},
		{name: "header length only", in: hdr[:1], want: []error{eof}},
		{name: "block length cut", in: concat(hdr, []byte{0x80}), want: []error{eof}},
		{name: "block cut in CID", in: concat(hdr, secA[:10]), want: []error{eof}},
		{name: "block cut after CID", in: concat(hdr, secA[:1+cid.Len]), want: []error{eof}},
		{name: "block cut in data", in: good[:len(good)-1], want: []error{eof}},

		// Length prefixes and limits.
		{name: "2 GiB header", in: appendUvarint(nil, 2<<30), want: []error{ErrLimit}},
		{name: "2 GiB block", in: concat(hdr, appendUvarint(nil, 2<<30)), want: []error{ErrLimit}},
		{name: "huge block prefix", in: concat(hdr, appendUvarint(nil, 1<<62)), want: []error{ErrLimit}},
		{name: "header over MaxHeader", in: hdr, lim: Limits{MaxHeader: 57}, want: []error{ErrLimit}},
		{name: "block over MaxBlockSize", in: good, lim: Limits{MaxBlockSize: len(a.Data) - 1}, want: []error{ErrLimit}},
		{name: "too many blocks", in: good, lim: Limits{MaxBlocks: 2}, want: []error{ErrLimit}},
		{name: "header over MaxBytes", in: hdr, lim: Limits{MaxBytes: int64(len(hdr) - 1)}, want: []error{ErrLimit}},
		{name: "too many bytes", in: good, lim: Limits{MaxBytes: int64(len(good) - 1)}, want: []error{ErrLimit}},
		{name: "non-minimal header length", in: concat([]byte{0xba, 0x00}, hdr[1:]), want: []error{ErrVarint}},
		{name: "non-minimal block length", in: concat(hdr, []byte{byte(len(secA)-1) | 0x80, 0x00}, secA[1:]), want: []error{ErrVarint}},
		{name: "ten-byte block length", in: concat(hdr, bytes.Repeat([]byte{0x80}, 9), []byte{0x01}), want: []error{ErrVarint}},

		// Header shape.
		{name: "empty header", in: []byte{0x00}, want: []error{ErrHeader}},
		{name: "header not a map", in: rawHeader([]byte{0x81}, link), want: []error{ErrHeader}},
		{name: "missing roots", in: rawHeader([]byte{0xa1}, version, []byte{0x01}), want: []error{ErrHeader}},
		{name: "missing version", in: rawHeader([]byte{0xa1}, roots, []byte{0x81}, link), want: []error{ErrHeader}},
		{name: "map of 2 without version", in: rawHeader([]byte{0xa2}, roots, []byte{0x81}, link), want: []error{ErrHeader}},
		{name: "version 2", in: rawHeader([]byte{0xa2}, roots, []byte{0x81}, link, version, []byte{0x02}), want: []error{ErrHeader}},
		{name: "version as text", in: rawHeader([]byte{0xa2}, roots, []byte{0x81}, link, version, []byte{0x61, '1'}), want: []error{ErrHeader}},
		{name: "CARv2 pragma", in: rawHeader([]byte{0xa1}, version, []byte{0x02}), want: []error{ErrHeader}},
		{name: "extra key", in: rawHeader([]byte{0xa3}, roots, []byte{0x81}, link, version, []byte{0x01, 0x61, 'x', 0x01}), want: []error{ErrHeader}},
		{name: "trailing byte", in: rawHeader([]byte{0xa2}, roots, []byte{0x81}, link, version, []byte{0x01, 0x00}), want: []error{ErrHeader}},
		{name: "keys out of order", in: rawHeader([]byte{0xa2}, version, []byte{0x01}, roots, []byte{0x81}, link), want: []error{ErrHeader}},
		{name: "roots not an array", in: rawHeader([]byte{0xa2}, roots, []byte{0x01}, version, []byte{0x01}), want: []error{ErrHeader}},
		{name: "roots array too long", in: rawHeader([]byte{0xa2}, roots, []byte{0x82}, link, version, []byte{0x01}), want: []error{ErrHeader}},
		{name: "roots array head not minimal", in: rawHeader([]byte{0xa2}, roots, []byte{0x98, 0x01}, link, version, []byte{0x01}), want: []error{ErrHeader}},
		{name: "roots array indefinite", in: rawHeader([]byte{0xa2}, roots, []byte{0x9f}, link, []byte{0xff}, version, []byte{0x01}), want: []error{ErrHeader}},
		{name: "root is text", in: rawHeader([]byte{0xa2}, roots, []byte{0x81, 0x64, 'r', 'o', 'o', 't'}, version, []byte{0x01}), want: []error{ErrHeader}},
		{name: "root is null", in: rawHeader([]byte{0xa2}, roots, []byte{0x81, 0xf6}, bytes.Repeat([]byte{0}, linkLen-1), version, []byte{0x01}), want: []error{ErrHeader, cid.ErrNotLink}},
		{name: "root without tag", in: rawHeader([]byte{0xa2}, roots, []byte{0x81}, link[2:], []byte{0, 0}, version, []byte{0x01}), want: []error{ErrHeader, cid.ErrNotLink}},
		{name: "root is dag-pb", in: rawHeader([]byte{0xa2}, roots, []byte{0x81}, pbLink, version, []byte{0x01}), want: []error{ErrHeader, cid.ErrCodec}},
	}
}

// TestReadErrors runs every bad input through both readers (and the
// streaming one through a plain io.Reader too).
func TestReadErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, errBytes := ReadBytes(tc.in, tc.lim)
			_, _, errStream := readAll(bytes.NewReader(tc.in), tc.lim)
			_, _, errPlain := readAll(plainReader{bytes.NewReader(tc.in)}, tc.lim)
			for name, err := range map[string]error{"ReadBytes": errBytes, "Reader": errStream, "plain Reader": errPlain} {
				for _, want := range tc.want {
					if !errors.Is(err, want) {
						t.Errorf("%s: %v, want %v", name, err, want)
					}
				}
			}
		})
	}
}

// failAfter returns its bytes, then errBoom: a reader that trips if the CAR
// reader reads past a length prefix it should have refused.
func failAfter(b []byte) io.Reader {
	return plainReader{io.MultiReader(bytes.NewReader(b), iotestErr{})}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errBoom }

// TestHugePrefixFailsAtOnce checks that a prefix over the limits is refused
// from the prefix alone, before any data is read or allocated.
func TestHugePrefixFailsAtOnce(t *testing.T) {
	t.Parallel()
	hdr := Encode([]cid.CID{cid.Sum(cid.Raw, nil)}, nil)
	if _, err := NewReader(failAfter(appendUvarint(nil, 2<<30)), Limits{}); !errors.Is(err, ErrLimit) {
		t.Fatalf("header: %v, want ErrLimit before reading further", err)
	}
	r, err := NewReader(failAfter(concat(hdr, appendUvarint(nil, 2<<30))), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrLimit) {
		t.Fatalf("block: %v, want ErrLimit before reading further", err)
	}
}

// TestReaderPassesReadErrors checks that an I/O error is reported as itself,
// not as truncation.
func TestReaderPassesReadErrors(t *testing.T) {
	t.Parallel()
	a := blockOf(cid.Raw, "a")
	good := Encode([]cid.CID{a.CID}, []Block{a})
	for cut := range len(good) {
		_, _, err := readAll(failAfter(good[:cut]), Limits{})
		if !errors.Is(err, errBoom) {
			t.Fatalf("cut at %d: %v, want errBoom", cut, err)
		}
	}
}
