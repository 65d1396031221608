package car

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// TestHeaderBytes checks the one-root header against the layout in the
// protocol notes (§3.3): 0x3a = 58 header bytes, roots first.
func TestHeaderBytes(t *testing.T) {
	t.Parallel()
	root := cid.Sum(cid.DagCBOR, []byte("commit"))
	digest := root.Digest()
	want := "3a" + "a2" + "65726f6f7473" + "81" + "d82a5825" + "00" + "01711220" +
		hex.EncodeToString(digest[:]) + "6776657273696f6e" + "01"
	if got := hex.EncodeToString(Encode([]cid.CID{root}, nil)); got != want {
		t.Fatalf("Encode header\n got %s\nwant %s", got, want)
	}
	var buf bytes.Buffer
	if _, err := NewWriter(&buf, root); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(buf.Bytes()); got != want {
		t.Fatalf("Writer header\n got %s\nwant %s", got, want)
	}
	if !strings.HasPrefix(want, "3aa265726f6f747381d82a58250001711220") {
		t.Fatal("expected bytes drifted from protocol-notes §3.3")
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 300) // a two-byte section length
	blocks := []Block{
		blockOf(cid.DagCBOR, "\xa1aa\x01"),
		blockOf(cid.Raw, ""), // an empty block is legal
		blockOf(cid.Raw, big),
		blockOf(cid.DagCBOR, "\xa1aa\x01"),                // duplicates are tolerated
		blockOf(cid.Raw, strings.Repeat("y", arenaMax/4)), // own allocation
		blockOf(cid.Raw, strings.Repeat("z", arenaMax/4-1)),
		blockOf(cid.Raw, strings.Repeat("w", arenaMin+1)),
	}
	for _, nroots := range []int{0, 1, 2, 3, 23, 24, 30} {
		t.Run(fmt.Sprintf("roots=%d", nroots), func(t *testing.T) {
			t.Parallel()
			roots := make([]cid.CID, nroots)
			for i := range roots {
				roots[i] = cid.Sum(cid.DagCBOR, fmt.Appendf(nil, "root %d", i))
			}
			enc := Encode(roots, blocks)
			if len(enc) != cap(enc) {
				t.Errorf("Encode sized its buffer %d for %d bytes", cap(enc), len(enc))
			}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, roots...)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range blocks {
				if err := w.WriteBlock(b.CID, b.Data); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(buf.Bytes(), enc) {
				t.Fatal("Writer and Encode disagree")
			}

			for name, r := range map[string]io.Reader{
				"bytes":   bytes.NewReader(enc),
				"plain":   plainReader{bytes.NewReader(enc)},
				"onebyte": iotest.OneByteReader(bytes.NewReader(enc)),
			} {
				gotRoots, got, err := readAll(r, Limits{})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				checkSame(t, gotRoots, roots, got, blocks)
			}

			gotRoots, m, err := ReadBytes(enc, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, gotRoots, roots, nil, nil)
			if len(m) != len(blocks)-1 {
				t.Fatalf("ReadBytes kept %d blocks, want %d distinct", len(m), len(blocks)-1)
			}
			for _, b := range blocks {
				if !bytes.Equal(m[b.CID], b.Data) {
					t.Fatalf("block %s: got %q", b.CID, m[b.CID])
				}
			}
		})
	}
}

func checkSame(t *testing.T, gotRoots, wantRoots []cid.CID, got, want []Block) {
	t.Helper()
	if len(gotRoots) != len(wantRoots) {
		t.Fatalf("%d roots, want %d", len(gotRoots), len(wantRoots))
	}
	for i := range wantRoots {
		if gotRoots[i] != wantRoots[i] {
			t.Fatalf("root %d = %s, want %s", i, gotRoots[i], wantRoots[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d blocks, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].CID != want[i].CID || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("block %d = %s %q, want %s", i, got[i].CID, got[i].Data, want[i].CID)
		}
		if cap(got[i].Data) != len(got[i].Data) {
			t.Fatalf("block %d: capacity %d exposes neighbouring bytes", i, cap(got[i].Data))
		}
	}
}

// TestReaderManyBlocks crosses many arena chunks, so a block that straddled
// two chunks or overlapped its neighbour would show.
func TestReaderManyBlocks(t *testing.T) {
	t.Parallel()
	var blocks []Block
	for i := range 300 {
		blocks = append(blocks, blockOf(cid.Raw, strings.Repeat(string(rune('a'+i%26)), 100+i*7)))
	}
	roots, got, err := readAll(bytes.NewReader(Encode(nil, blocks)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, roots, nil, got, blocks)
	// Fill each block with its own index; if any two blocks shared bytes, a
	// later fill would show through in an earlier block.
	for i, b := range got {
		for j := range b.Data {
			b.Data[j] = byte(i)
		}
	}
	for i, b := range got {
		if n := bytes.Count(b.Data, []byte{byte(i)}); n != len(b.Data) {
			t.Fatalf("block %d overlaps another block", i)
		}
	}
}

// TestReadBytesAliases checks the no-copy promise and that an aliased block
// cannot be appended into its neighbour.
func TestReadBytesAliases(t *testing.T) {
	t.Parallel()
	a, b := blockOf(cid.Raw, "first block"), blockOf(cid.Raw, "second block")
	enc := Encode(nil, []Block{a, b})
	_, m, err := ReadBytes(enc, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := m[a.CID]
	start := len(enc) - len(b.Data) - cid.Len - 1 - len(a.Data)
	if &got[0] != &enc[start] {
		t.Fatal("block data was copied, want an alias of the input")
	}
	_ = append(got, "XX"...)
	if !bytes.Equal(m[b.CID], b.Data) {
		t.Fatal("append to one block overwrote the next")
	}
}

func TestBlocksGetBlock(t *testing.T) {
	t.Parallel()
	a := blockOf(cid.DagCBOR, "\xa0")
	_, m, err := ReadBytes(Encode([]cid.CID{a.CID}, []Block{a}), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	data, found, err := m.GetBlock(a.CID)
	if err != nil || !found || !bytes.Equal(data, a.Data) {
		t.Fatalf("GetBlock(present) = %q, %v, %v", data, found, err)
	}
	data, found, err = m.GetBlock(cid.Sum(cid.DagCBOR, []byte("other")))
	if err != nil || found || data != nil {
		t.Fatalf("GetBlock(absent) = %q, %v, %v", data, found, err)
	}
}

// TestReaderSticky checks that io.EOF and errors repeat, and that a stream
// cannot be read past an error.
func TestReaderSticky(t *testing.T) {
	t.Parallel()
	a := blockOf(cid.Raw, "a")
	good := Encode(nil, []Block{a})
	r, err := NewReader(bytes.NewReader(good), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := r.Next(); err != nil || b.CID != a.CID {
		t.Fatalf("Next = %v, %v", b.CID, err)
	}
	for range 2 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next at end = %v, want io.EOF itself", err)
		}
	}

	bad := Encode(nil, []Block{{CID: a.CID, Data: []byte("b")}, a})
	r, err = NewReader(bytes.NewReader(bad), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if !errors.Is(err1, ErrHashMismatch) || err2 != err1 {
		t.Fatalf("errors %v then %v, want the same ErrHashMismatch twice", err1, err2)
	}
}

// errWriter fails once it has taken n bytes.
type errWriter struct{ n int }

var errBoom = errors.New("boom")

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errBoom
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	t.Parallel()
	a := blockOf(cid.Raw, "a")
	if _, err := NewWriter(io.Discard, a.CID, cid.Undef); !errors.Is(err, cid.ErrUndefined) {
		t.Fatalf("undefined root: %v", err)
	}
	if _, err := NewWriter(&errWriter{n: 10}, a.CID); !errors.Is(err, errBoom) {
		t.Fatalf("failing header write: %v", err)
	}
	w, err := NewWriter(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBlock(cid.Undef, nil); !errors.Is(err, cid.ErrUndefined) {
		t.Fatalf("undefined block CID: %v", err)
	}
	for _, room := range []int{0, 20, 1 + cid.Len} { // fail in the head, then in the data
		hdr := len(Encode(nil, nil))
		w, err := NewWriter(&errWriter{n: hdr + room})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteBlock(a.CID, a.Data); !errors.Is(err, errBoom) {
			t.Fatalf("room %d: %v, want errBoom", room, err)
		}
		if err := w.WriteBlock(a.CID, a.Data); !errors.Is(err, errBoom) {
			t.Fatalf("room %d: write after failure: %v, want the sticky error", room, err)
		}
	}
}

func TestUvarint(t *testing.T) {
	t.Parallel()
	for _, v := range []uint64{0, 1, 127, 128, 300, 16383, 16384, 1 << 31, 1<<63 - 1} {
		enc := appendUvarint(nil, v)
		if len(enc) != uvarintLen(v) {
			t.Fatalf("%d: %d bytes, uvarintLen says %d", v, len(enc), uvarintLen(v))
		}
		got, n, err := parseUvarint(append(enc, 0xff))
		if err != nil || got != v || n != len(enc) {
			t.Fatalf("%d: parse = %d, %d, %v", v, got, n, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", io.ErrUnexpectedEOF},
		{"80", io.ErrUnexpectedEOF},
		{"8000", ErrVarint},                 // 0 in two bytes
		{"ff00", ErrVarint},                 // 127 in two bytes
		{"80808080808080808001", ErrVarint}, // 2^63 needs ten bytes
		{"ffffffffffffffffff7f", ErrVarint},
	} {
		in, _ := hex.DecodeString(tc.in)
		if _, _, err := parseUvarint(in); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	d := Limits{MaxBlocks: -1}.withDefaults()
	if d.MaxBlocks != DefaultMaxBlocks || d.MaxBytes != DefaultMaxBytes ||
		d.MaxBlockSize != DefaultMaxBlockSize || d.MaxHeader != DefaultMaxHeader {
		t.Fatalf("defaults = %+v", d)
	}
	// A 1,000,001-byte record fits the defaults but not a #commit slice.
	big := blockOf(cid.Raw, strings.Repeat("r", 1_000_001))
	enc := Encode(nil, []Block{big})
	if _, _, err := ReadBytes(enc, Limits{}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if _, _, err := ReadBytes(enc, CommitLimits()); !errors.Is(err, ErrLimit) {
		t.Fatalf("CommitLimits: %v, want ErrLimit", err)
	}
	// Two 1,000,000-byte blocks break the 2,000,000-byte #commit cap.
	a := blockOf(cid.Raw, strings.Repeat("a", 1_000_000))
	b := blockOf(cid.Raw, strings.Repeat("b", 1_000_000))
	enc = Encode(nil, []Block{a, b})
	if _, _, err := ReadBytes(enc, CommitLimits()); !errors.Is(err, ErrLimit) {
		t.Fatalf("CommitLimits, two blocks: %v, want ErrLimit", err)
	}
	if _, _, err := readAll(bytes.NewReader(enc), CommitLimits()); !errors.Is(err, ErrLimit) {
		t.Fatalf("CommitLimits, stream: %v, want ErrLimit", err)
	}
}
