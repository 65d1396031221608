package plc

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzSubmitOp posts arbitrary bodies to the directory. Every answer must
// be 200 or 400 (never a 500 or a panic); a 400 must leave the log as it
// was; a 200 must have stored exactly the canonical form of a valid
// operation that follows the previous head. Bodies that parse must also
// survive a JSON round trip unchanged.
func FuzzSubmitOp(f *testing.F) {
	d, err := NewDirectory(DirectoryConfig{Dir: f.TempDir(), NoSync: true, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = d.Close() })
	a := newAccount(f, 1, "fuzz.example.test")
	if err := d.Submit(a.did, a.head()); err != nil {
		f.Fatal(err)
	}
	b := newAccount(f, 2, "other.example.test")
	tomb, _ := NewTombstone(b.head())
	if err := tomb.Sign(b.rotation); err != nil {
		f.Fatal(err)
	}
	update := a.update(f, a.rotation, func(op *Op) { op.SetHandle("fuzzed.example.test") })
	good := string(mustJSON(f, update))
	for _, seed := range []string{
		knownGenesis, knownUpdate, good,
		string(mustJSON(f, a.head())), string(mustJSON(f, b.head())), string(mustJSON(f, tomb)),
		string(mustJSON(f, a.update(f, a.signing, nil))), // wrong key
		strings.Replace(good, `"type":"plc_operation"`, `"type":"plc_tombstone"`, 1),
		strings.Replace(good, `"prev":`, `"prev":null,"x":`, 1),
		good[:len(good)/2],
		`{"type":"plc_tombstone","prev":"` + knownGenesisCID + `","sig":"` + strings.Repeat("A", 86) + `"}`,
		`{"type":"plc_operation","type":"plc_tombstone"}`,
		`{"type":"create","signingKey":"did:key:z","recoveryKey":"did:key:z","handle":"a.test","service":"x","prev":null,"sig":""}`,
		"", "null", "{}", "[]", `"plc_operation"`, `{"type":null}`, `{"type":1e999}`,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		`{"type":"plc_operation","rotationKeys":[` + strings.Repeat(`"did:key:z",`, 50) + `"x"]}`,
		`{"type":"plc_operation","services":{"a":{"type":"\u0000","endpoint":"\ud800"}}}`,
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		parsed, parseErr := ParseOp(body)
		if parseErr == nil {
			checkJSONRoundTrip(t, parsed)
		}
		did := a.did
		if parseErr == nil && parsed.IsGenesis() && len(parsed.Sig) > 0 {
			if g, err := parsed.DID(); err == nil {
				did = g // a valid genesis can only be accepted at its own DID
			}
		}
		before, beforeErr := d.AuditLog(did)
		if beforeErr != nil && !errors.Is(beforeErr, ErrNotFound) {
			t.Fatalf("AuditLog: %v", beforeErr)
		}

		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/"+did, bytes.NewReader(body)))

		after, afterErr := d.AuditLog(did)
		if afterErr != nil && !errors.Is(afterErr, ErrNotFound) {
			t.Fatalf("AuditLog: %v", afterErr)
		}
		switch rec.Code {
		case http.StatusBadRequest:
			if !bytes.Equal(mustJSON(t, before), mustJSON(t, after)) {
				t.Fatalf("rejected body changed the log: %q", body)
			}
		case http.StatusOK:
			checkAccepted(t, did, parsed, parseErr, before, after)
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.Bytes())
		}
	})
}

// checkJSONRoundTrip: encoding a parsed op and parsing it again gives the
// same JSON, so what the directory serves reads back as what it stored.
func checkJSONRoundTrip(t *testing.T, op *Op) {
	enc, err := op.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON of a parsed op: %v", err)
	}
	again, err := ParseOp(enc)
	if err != nil {
		t.Fatalf("re-parse %s: %v", enc, err)
	}
	enc2, err := again.MarshalJSON()
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("JSON round trip changed the op:\n%s\n%s (%v)", enc, enc2, err)
	}
}

// checkAccepted verifies an accepted submission: the op was valid, the log
// grew by exactly it (or it was the head already), and it follows the
// previous head.
func checkAccepted(t *testing.T, did string, op *Op, parseErr error, before, after []LogEntry) {
	if parseErr != nil {
		t.Fatalf("accepted an op that does not parse: %v", parseErr)
	}
	if err := op.Validate(); err != nil {
		t.Fatalf("accepted an invalid op: %v", err)
	}
	opCID := mustCID(t, op).String()
	if len(after) == 0 || after[len(after)-1].CID != opCID {
		t.Fatalf("accepted op %s is not the head", opCID)
	}
	switch {
	case len(after) == len(before):
		// Idempotent re-submission of the head: nothing may change.
		if !bytes.Equal(mustJSON(t, before), mustJSON(t, after)) {
			t.Fatal("re-submitting the head changed the log")
		}
	case len(after) == len(before)+1:
		var prev *Op
		if len(before) > 0 {
			prev = before[len(before)-1].Operation
		} else if g, err := op.DID(); err != nil || g != did {
			t.Fatalf("genesis stored at %s hashes to %s (%v)", did, g, err)
		}
		if err := VerifyOp(op, prev); err != nil {
			t.Fatalf("stored op does not verify against the previous head: %v", err)
		}
		if !bytes.Equal(mustBytes(t, after[len(after)-1].Operation), mustBytes(t, op)) {
			t.Fatal("stored bytes differ from the verified op")
		}
	default:
		t.Fatalf("log went from %d to %d entries", len(before), len(after))
	}
}
