package syntax

import (
	"errors"
	"testing"
)

func TestATURIAccessors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in         string
		authority  AtIdentifier
		collection NSID
		rkey       RecordKey
		path       string
		fragment   string
	}{
		{"at://did:plc:asdf123", "did:plc:asdf123", "", "", "", ""},
		{"at://user.bsky.social", "user.bsky.social", "", "", "", ""},
		{"at://did:plc:asdf123/com.atproto.feed.post", "did:plc:asdf123", "com.atproto.feed.post", "", "", ""},
		{"at://did:plc:asdf123/com.atproto.feed.post/3l3qo2vxaaw22", "did:plc:asdf123", "com.atproto.feed.post", "3l3qo2vxaaw22", "com.atproto.feed.post/3l3qo2vxaaw22", ""},
		{"at://did:web:localhost%3A1234/app.bsky.actor.profile/self", "did:web:localhost%3A1234", "app.bsky.actor.profile", "self", "app.bsky.actor.profile/self", ""},
		{"at://did:plc:asdf123/com.atproto.feed.post/record#/frag", "did:plc:asdf123", "com.atproto.feed.post", "record", "com.atproto.feed.post/record", "/frag"},
		{"at://did:plc:asdf123/com.atproto.feed.post#/a/0", "did:plc:asdf123", "com.atproto.feed.post", "", "", "/a/0"},
		{"at://did:plc:asdf123#/", "did:plc:asdf123", "", "", "", "/"},
		{"at://alice.test#/%C3%BC~0[1]", "alice.test", "", "", "", "/%C3%BC~0[1]"},
	}
	for _, c := range cases {
		u, err := ParseATURI(c.in)
		if err != nil {
			t.Errorf("ParseATURI(%q): %v", c.in, err)
			continue
		}
		if u.Authority() != c.authority || u.Collection() != c.collection || u.RecordKey() != c.rkey ||
			u.Path() != c.path || u.Fragment() != c.fragment || u.String() != c.in || u.IsZero() {
			t.Errorf("%q: got authority %q collection %q rkey %q path %q fragment %q",
				c.in, u.Authority(), u.Collection(), u.RecordKey(), u.Path(), u.Fragment())
		}
		if b, _ := u.MarshalText(); string(b) != c.in {
			t.Errorf("%q: MarshalText %q", c.in, b)
		}
	}
}

func TestATURIRejects(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"",
		"at://",
		"at://did:plc:asdf123?q=1",
		"at://did:plc:asdf123/com.atproto.feed.post?q=1",
		"at://did:plc:asdf123#frag",  // fragment must be a JSON pointer
		"at://did:plc:asdf123#/a%2",  // truncated escape
		"at://did:plc:asdf123#/a%zz", // non-hex escape
		"at://did:plc:asdf123#/a%ff", // escape decodes to invalid UTF-8
		"at://did:plc:asdf123#/a b",  // space
		"at://did:plc:asdf123#/a\"b", // quote not in the fragment set
		"at://did:plc:asdf123/com.atproto.feed.post/rec#",
		"at://did:plc:asdf123/com.atproto.feed.post/rec/",
		"at://did:plc:asdf123/com.atproto.feed.post//",
		"at://did:plc:asdf123/com.atproto.feed.post/a/b",
	} {
		if _, err := ParseATURI(bad); !errors.Is(err, ErrInvalidATURI) {
			t.Errorf("ParseATURI(%q) err = %v, want ErrInvalidATURI", bad, err)
		}
	}
}

func TestRecordURI(t *testing.T) {
	t.Parallel()
	u := RecordURI("did:plc:asdf123", "app.bsky.feed.post", "3l3qo2vxaaw22")
	want := "at://did:plc:asdf123/app.bsky.feed.post/3l3qo2vxaaw22"
	p, err := ParseATURI(want)
	if err != nil {
		t.Fatal(err)
	}
	if u != p {
		t.Errorf("RecordURI = %#v, ParseATURI = %#v", u, p)
	}
	var zero ATURI
	if !zero.IsZero() || zero.Authority() != "" || zero.Collection() != "" || zero.RecordKey() != "" || zero.Fragment() != "" {
		t.Error("zero ATURI accessors not empty")
	}
}
