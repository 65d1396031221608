package mst

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyHeights asserts every case of mst/key_heights.json.
func TestKeyHeights(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Key    string `json:"key"`
		Height int    `json:"height"`
	}
	readJSON(t, "mst/key_heights.json", &cases)
	if len(cases) != 9 {
		t.Fatalf("want 9 cases, got %d", len(cases))
	}
	for _, c := range cases {
		if got := Height([]byte(c.Key)); got != c.Height {
			t.Errorf("Height(%q) = %d, want %d", c.Key, got, c.Height)
		}
		if got := heightString(c.Key); got != c.Height {
			t.Errorf("heightString(%q) = %d, want %d", c.Key, got, c.Height)
		}
	}
}

// TestCommonPrefix asserts every case of mst/common_prefix.json.
func TestCommonPrefix(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Left  string `json:"left"`
		Right string `json:"right"`
		Len   int    `json:"len"`
	}
	readJSON(t, "mst/common_prefix.json", &cases)
	if len(cases) != 13 {
		t.Fatalf("want 13 cases, got %d", len(cases))
	}
	for _, c := range cases {
		if got := CommonPrefixLen([]byte(c.Left), []byte(c.Right)); got != c.Len {
			t.Errorf("CommonPrefixLen(%q, %q) = %d, want %d", c.Left, c.Right, got, c.Len)
		}
		if got := commonPrefix(c.Left, c.Right); got != c.Len {
			t.Errorf("commonPrefix(%q, %q) = %d, want %d", c.Left, c.Right, got, c.Len)
		}
	}
}

// TestExampleKeys asserts mst/example_keys.txt: each key is a letter, then its
// height as a digit, then "/" and a number.
func TestExampleKeys(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(interop, "mst/example_keys.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		key := strings.TrimSpace(sc.Text())
		if key == "" {
			continue
		}
		if len(key) < 3 || key[1] < '0' || key[1] > '9' || key[2] != '/' {
			t.Fatalf("unexpected line %q", key)
		}
		n++
		if got, want := Height([]byte(key)), int(key[1]-'0'); got != want {
			t.Errorf("Height(%q) = %d, want %d", key, got, want)
		}
	}
	if n != 156 {
		t.Fatalf("want 156 keys, got %d", n)
	}
}

// TestHeightLongKey checks the stack-buffer shortcut against Height for keys
// on both sides of the buffer size.
func TestHeightLongKey(t *testing.T) {
	t.Parallel()
	for n := 250; n < 270; n++ {
		for c := byte('a'); c < 'a'+8; c++ {
			k := strings.Repeat(string(c), n)
			if heightString(k) != Height([]byte(k)) {
				t.Fatalf("height mismatch for a %d-byte key", n)
			}
		}
	}
}
