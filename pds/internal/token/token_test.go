package token

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func sample(now time.Time) Claims {
	return Claims{
		Typ: TypAccess, Scope: ScopeAccess, Sub: "did:plc:abc", Aud: "did:web:pds.test",
		IAT: now.Unix(), EXP: now.Add(2 * time.Hour).Unix(),
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	for _, c := range []Claims{
		sample(now),
		{Typ: TypRefresh, Scope: ScopeRefresh, Sub: "did:plc:x", Aud: "did:web:a", JTI: "j1", IAT: 1, EXP: now.Unix() + 1},
	} {
		tok, err := Sign(secret, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(secret, tok, now)
		if err != nil {
			t.Fatalf("parse %s: %v", tok, err)
		}
		if got != c {
			t.Fatalf("got %+v, want %+v", got, c)
		}
	}
}

func TestRejects(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	good, err := Sign(secret, sample(now))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	otherSecret := []byte("ffffffffffffffffffffffffffffffff")
	forged, _ := Sign(otherSecret, sample(now))
	expired, _ := Sign(secret, Claims{Scope: ScopeAccess, Sub: "did:plc:a", EXP: now.Unix()})
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"alg none", enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", ErrAlg},
		{"alg ES256K", enc([]byte(`{"alg":"ES256K"}`)) + "." + parts[1] + "." + parts[2], ErrAlg},
		{"header not json", enc([]byte(`{`)) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"bad base64 sig", parts[0] + "." + parts[1] + ".!!", ErrMalformed},
		{"other secret", forged, ErrSignature},
		{"payload swapped", parts[0] + "." + enc([]byte(`{"sub":"did:plc:evil","exp":9999999999}`)) + "." + parts[2], ErrSignature},
		{"expired", expired, ErrExpired},
		{"too long", strings.Repeat("a", MaxLen+1), ErrMalformed},
	}
	for _, tc := range cases {
		if _, err := Parse(secret, tc.tok, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := Parse([]byte("short"), good, now); !errors.Is(err, ErrSecret) {
		t.Errorf("short secret: %v", err)
	}
}

// A payload that is validly signed but not our shape (exp as a float) is
// malformed, not accepted with a zero exp.
func TestPayloadTypes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	enc := base64.RawURLEncoding.EncodeToString
	for _, p := range []string{`{"exp":1.5e10}`, `{"exp":"9999999999"}`, `{"exp":9999999999} {}`, `[]`} {
		tok := signRaw(enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(p)))
		if _, err := Parse(secret, tok, now); !errors.Is(err, ErrMalformed) {
			t.Errorf("payload %s: got %v, want ErrMalformed", p, err)
		}
	}
}
