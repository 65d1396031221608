package pds

import (
	"errors"
	"strconv"
	"testing"

	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// FuzzQueryParams feeds the hand-parsed XRPC query parameters (limit,
// booleans, the listRepos cursor): each gives an in-range value or
// ErrInvalidRequest, and a value re-formatted parses back to itself.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{"", "1", "50", "100", "101", "0", "-1", "+5", "007", "1e2", "true", "false", "TRUE",
		"18446744073709551615", "9223372036854775807", "9223372036854775808", " 1", "1 ", "0x10", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseLimit(s, 50, 100)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("limit %q: %v", s, err)
			}
		} else {
			if n < 1 || n > 100 {
				t.Fatalf("limit %q gave %d", s, n)
			}
			if again, err := parseLimit(strconv.Itoa(n), 50, 100); err != nil || again != n {
				t.Fatalf("limit %d does not round trip", n)
			}
		}
		b, err := parseBool("x", s)
		if err == nil && s != "" && strconv.FormatBool(b) != s {
			t.Fatalf("bool %q gave %v", s, b)
		}
		if err != nil && !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("bool %q: %v", s, err)
		}
		u, err := parseUIDCursor(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("cursor %q: %v", s, err)
			}
		} else if again, err := parseUIDCursor(strconv.FormatUint(u, 10)); s != "" && (err != nil || again != u) {
			t.Fatalf("cursor %d does not round trip", u)
		}
	})
}

// FuzzWriteInputs feeds JSON bodies to the parsers of createRecord,
// putRecord, deleteRecord and applyWrites inputs: they must return an error
// or writes of the expected shape, never panic.
func FuzzWriteInputs(f *testing.F) {
	for _, s := range []string{
		`{"repo":"did:plc:abc","collection":"app.bsky.feed.post","record":{"text":"x","createdAt":"2026-01-02T03:04:05Z"}}`,
		`{"repo":"a.test","collection":"app.bsky.feed.post","rkey":"self","record":{},"swapRecord":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm","validate":false}`,
		`{"repo":1,"collection":null,"record":"x"}`,
		`{"repo":"r","writes":[{"$type":"com.atproto.repo.applyWrites#create","collection":"a.b.c","value":{"a":{"$link":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}}},{"$type":"com.atproto.repo.applyWrites#delete","collection":"a.b.c","rkey":"k"}]}`,
		`{"writes":[1,{},{"$type":5}],"swapCommit":"nope","validate":"yes"}`,
		`{"writes":{"$bytes":"AAAA"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := dagcbor.ObjectFromJSON(body)
		if err != nil {
			return
		}
		o := object(in)
		for _, action := range []repo.Action{repo.Create, repo.Update, repo.Delete} {
			_, w, _, err := writeInput(o, action)
			if err != nil {
				if !errors.Is(err, ErrInvalidRequest) && !errors.Is(err, ErrInvalidRecord) {
					t.Fatalf("%s: unexpected error kind %v", action, err)
				}
				continue
			}
			if w.Action != action || w.Collection == "" || (action != repo.Delete) != (w.Value != nil) {
				t.Fatalf("%s: malformed write %+v", action, w)
			}
		}
		validate, err := o.validation()
		if err != nil {
			return
		}
		writes, err := parseWrites(in["writes"], validate)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) && !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("writes: unexpected error kind %v", err)
			}
			return
		}
		for _, w := range writes {
			if (w.Action != repo.Create && w.Action != repo.Update && w.Action != repo.Delete) ||
				w.Collection == "" || (w.Action != repo.Delete) != (w.Value != nil) {
				t.Fatalf("malformed write %+v", w)
			}
		}
	})
}
