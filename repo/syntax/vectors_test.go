package syntax

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vectorDir holds the atproto-interop-tests syntax vectors, read in place.
const vectorDir = "../../../shared/testdata/atproto-interop/syntax"

// vectorLine is one value from a vector file, with its line number.
type vectorLine struct {
	n     int
	value string
}

// readVectors returns the non-blank, non-comment lines of a vector file.
// Lines are not trimmed: leading and trailing spaces are part of several
// invalid cases.
func readVectors(t testing.TB, name string) []vectorLine {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatalf("open vectors: %v", err)
	}
	defer f.Close()
	var out []vectorLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, vectorLine{n: n, value: line})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no vectors found", name)
	}
	return out
}

// vectorCheck validates one string with the parser under test.
type vectorCheck func(s string) error

func asCheck[T any](parse func(string) (T, error)) vectorCheck {
	return func(s string) error {
		_, err := parse(s)
		return err
	}
}

func boolCheck(valid func(string) bool) vectorCheck {
	return func(s string) error {
		if !valid(s) {
			return fmt.Errorf("rejected")
		}
		return nil
	}
}

// vectorParsers maps each vector file's prefix to its parser.
var vectorParsers = map[string]vectorCheck{
	"atidentifier": asCheck(ParseAtIdentifier),
	"aturi":        asCheck(ParseATURI),
	"cid":          boolCheck(ValidCIDString),
	"datetime":     asCheck(ParseDatetime),
	"did":          asCheck(ParseDID),
	"handle":       asCheck(ParseHandle),
	"language":     asCheck(ParseLanguage),
	"nsid":         asCheck(ParseNSID),
	"recordkey":    asCheck(ParseRecordKey),
	"tid":          asCheck(ParseTID),
	"uri":          asCheck(ParseURI),
}

// TestInteropVectors asserts every line of every syntax vector file: lines
// of *_valid.txt are accepted, lines of *_invalid.txt and *_parse_invalid.txt
// are rejected. A file the test does not know about fails the test, so new
// vectors cannot be silently skipped.
func TestInteropVectors(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files in %s (err %v)", vectorDir, err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		kind, _, _ := strings.Cut(name, "_")
		check, ok := vectorParsers[kind]
		if !ok {
			t.Errorf("%s: no parser mapped for %q", name, kind)
			continue
		}
		var wantValid bool
		switch {
		case strings.HasSuffix(name, "_syntax_valid.txt"):
			wantValid = true
		case strings.HasSuffix(name, "_syntax_invalid.txt"), strings.HasSuffix(name, "_parse_invalid.txt"):
			wantValid = false
		default:
			t.Errorf("%s: unknown vector file kind", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, v := range readVectors(t, name) {
				t.Run(fmt.Sprintf("L%d:%.40s", v.n, v.value), func(t *testing.T) {
					err := check(v.value)
					if wantValid && err != nil {
						t.Errorf("line %d %.80q: want valid, got %v", v.n, v.value, err)
					}
					if !wantValid && err == nil {
						t.Errorf("line %d %.80q: want rejected, got accepted", v.n, v.value)
					}
				})
			}
		})
	}
}
