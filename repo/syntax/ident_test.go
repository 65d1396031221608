package syntax

import (
	"errors"
	"strings"
	"testing"
)

func TestDIDAccessors(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, method, ident string }{
		{"did:plc:ewvi7nxzyoun6zhxrhs64oiz", "plc", "ewvi7nxzyoun6zhxrhs64oiz"},
		{"did:web:localhost%3A1234", "web", "localhost%3A1234"},
		{"did:method:a:b:c", "method", "a:b:c"},
	}
	for _, c := range cases {
		d, err := ParseDID(c.in)
		if err != nil {
			t.Fatalf("ParseDID(%q): %v", c.in, err)
		}
		if d.Method() != c.method || d.Identifier() != c.ident || d.String() != c.in {
			t.Errorf("%q: method %q ident %q", c.in, d.Method(), d.Identifier())
		}
		if a := d.AtIdentifier(); !a.IsDID() || a.IsHandle() {
			t.Errorf("%q: at-identifier kind wrong", c.in)
		}
	}
	for _, bad := range []DID{"", "did", "did:", "did:plc"} {
		if bad.Method() != "" || bad.Identifier() != "" {
			t.Errorf("unvalidated %q: want empty accessors", bad)
		}
	}
	if _, err := ParseDID("did:plc:" + strings.Repeat("a", MaxDIDLen-8)); err != nil {
		t.Errorf("DID of exactly max length rejected: %v", err)
	}
	if _, err := ParseDID("did:plc:" + strings.Repeat("a", MaxDIDLen-7)); !errors.Is(err, ErrInvalidDID) {
		t.Errorf("DID over max length: err %v", err)
	}
}

func TestHandleMethods(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, norm, tld string
		allowed       bool
	}{
		{"Alice.BSKY.Social", "alice.bsky.social", "social", true},
		{"john.test", "john.test", "test", true},
		{"laptop.local", "laptop.local", "local", false},
		{"x.ARPA", "x.arpa", "arpa", false},
		{"a.invalid", "a.invalid", "invalid", false},
		{"a.localhost", "a.localhost", "localhost", false},
		{"a.internal", "a.internal", "internal", false},
		{"a.example", "a.example", "example", false},
		{"a.alt", "a.alt", "alt", false},
		{"expyuzz4wqqyqhjn.onion", "expyuzz4wqqyqhjn.onion", "onion", false},
		{"example.com", "example.com", "com", true},
	}
	for _, c := range cases {
		h, err := ParseHandle(c.in)
		if err != nil {
			t.Fatalf("ParseHandle(%q): %v", c.in, err)
		}
		if string(h.Normalize()) != c.norm || h.TLD() != c.tld || h.AllowedTLD() != c.allowed {
			t.Errorf("%q: norm %q tld %q allowed %v", c.in, h.Normalize(), h.TLD(), h.AllowedTLD())
		}
		if a := h.AtIdentifier(); !a.IsHandle() || a.IsDID() {
			t.Errorf("%q: at-identifier kind wrong", c.in)
		}
	}
	if !Handle("Handle.Invalid").IsInvalidHandle() || Handle("handle.valid").IsInvalidHandle() {
		t.Error("IsInvalidHandle wrong")
	}
}

func TestAtIdentifier(t *testing.T) {
	t.Parallel()
	a, err := ParseAtIdentifier("Alice.Test")
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := a.AsHandle(); !ok || h != "Alice.Test" {
		t.Errorf("AsHandle = %q %v", h, ok)
	}
	if _, ok := a.AsDID(); ok {
		t.Error("handle reported as DID")
	}
	if a.Normalize() != "alice.test" {
		t.Errorf("Normalize = %q", a.Normalize())
	}
	d, err := ParseAtIdentifier("did:plc:ABC")
	if err != nil {
		t.Fatal(err)
	}
	if did, ok := d.AsDID(); !ok || did != "did:plc:ABC" || d.Normalize() != d {
		t.Errorf("DID identifier: %q %v normalize %q", did, ok, d.Normalize())
	}
	if _, ok := d.AsHandle(); ok {
		t.Error("DID reported as handle")
	}
	for _, bad := range []string{"", "did:plc:", "alice", "did:PLC:x"} {
		if _, err := ParseAtIdentifier(bad); !errors.Is(err, ErrInvalidAtIdentifier) {
			t.Errorf("ParseAtIdentifier(%q) err = %v", bad, err)
		}
	}
	var zero AtIdentifier
	if zero.IsDID() || zero.IsHandle() {
		t.Error("zero AtIdentifier claims a kind")
	}
}

func TestNSIDAccessors(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, authority, name, norm string }{
		{"app.bsky.feed.post", "feed.bsky.app", "post", "app.bsky.feed.post"},
		{"com.Example.fooBar", "example.com", "fooBar", "com.example.fooBar"},
		{"a.b.c", "b.a", "c", "a.b.c"},
		{"One.Two.Three.FiVe", "three.two.one", "FiVe", "one.two.three.FiVe"},
	}
	for _, c := range cases {
		n, err := ParseNSID(c.in)
		if err != nil {
			t.Fatalf("ParseNSID(%q): %v", c.in, err)
		}
		if n.Authority() != c.authority || n.Name() != c.name || string(n.Normalize()) != c.norm {
			t.Errorf("%q: authority %q name %q norm %q", c.in, n.Authority(), n.Name(), n.Normalize())
		}
	}
	if NSID("nodots").Authority() != "" {
		t.Error("unvalidated NSID without dots has an authority")
	}
	// Name segment rules beyond the vectors.
	for _, bad := range []string{"com.example.a-b", "com.example.", "com..example.foo", "com.example.9", "-com.example.foo"} {
		if _, err := ParseNSID(bad); !errors.Is(err, ErrInvalidNSID) {
			t.Errorf("ParseNSID(%q) err = %v", bad, err)
		}
	}
}

func TestRecordKeyAndRepoPath(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"#extra", "", "a/b", "a b", "ü"} {
		if _, err := ParseRecordKey(bad); !errors.Is(err, ErrInvalidRecordKey) {
			t.Errorf("ParseRecordKey(%q) err = %v", bad, err)
		}
	}
	cases := []struct {
		path       string
		ok         bool
		collection NSID
		rkey       RecordKey
	}{
		{"app.bsky.feed.post/3l3qo2vxaaw22", true, "app.bsky.feed.post", "3l3qo2vxaaw22"},
		{"app.bsky.actor.profile/self", true, "app.bsky.actor.profile", "self"},
		{"com.example.thing/lang:en", true, "com.example.thing", "lang:en"},
		{"app.bsky.feed.post", false, "", ""},
		{"app.bsky.feed.post/", false, "", ""},
		{"/3l3qo2vxaaw22", false, "", ""},
		{"app.bsky.feed.post/a/b", false, "", ""},
		{"app.bsky.feed.post/..", false, "", ""},
		{"bsky.post/abc", false, "", ""},
		{"/app.bsky.feed.post/abc", false, "", ""},
		{"", false, "", ""},
	}
	for _, c := range cases {
		coll, rkey, err := ParseRepoPath(c.path)
		if (err == nil) != c.ok || ValidRepoPath(c.path) != c.ok {
			t.Errorf("%q: ParseRepoPath err %v, ValidRepoPath %v, want ok=%v", c.path, err, ValidRepoPath(c.path), c.ok)
			continue
		}
		if !c.ok {
			if !errors.Is(err, ErrInvalidRepoPath) {
				t.Errorf("%q: err %v not ErrInvalidRepoPath", c.path, err)
			}
			continue
		}
		if coll != c.collection || rkey != c.rkey || RepoPath(coll, rkey) != c.path {
			t.Errorf("%q: split into %q %q", c.path, coll, rkey)
		}
	}
}

func TestErrorTruncatesInput(t *testing.T) {
	t.Parallel()
	long := "did:plc:" + strings.Repeat("x", 5000) + "%"
	_, err := ParseDID(long)
	if !errors.Is(err, ErrInvalidDID) {
		t.Fatalf("err = %v", err)
	}
	if n := len(err.Error()); n > 200 {
		t.Errorf("error message is %d bytes; input not truncated", n)
	}
}
