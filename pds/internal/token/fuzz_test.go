package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"
)

func signRaw(signingInput string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signingInput))
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// FuzzParseToken feeds arbitrary strings, and arbitrary header and payload
// bytes correctly signed, to Parse: it must return an error or claims that
// re-sign to a token parsing to the same claims.
func FuzzParseToken(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	good, _ := Sign(secret, sample(now))
	f.Add(good, []byte(`{"alg":"HS256","typ":"at+jwt"}`), []byte(`{"exp":1800000000,"sub":"did:plc:a"}`))
	f.Add("a.b.c", []byte(`{"alg":"none"}`), []byte(`{}`))
	f.Add("..", []byte(`{"alg":"HS256"}`), []byte(`{"exp":1e400}`))
	f.Add("", []byte(`{"alg":"HS256","alg":"none"}`), []byte(`{"exp":1800000000,"exp":1}`))
	f.Add("e30.e30.", []byte(`null`), []byte(`{"exp":-9223372036854775808}`))
	f.Fuzz(func(t *testing.T, raw string, h, p []byte) {
		check := func(tok string) {
			c, err := Parse(secret, tok, now)
			if err != nil {
				return
			}
			again, err := Sign(secret, c)
			if err != nil {
				t.Fatalf("re-sign %+v: %v", c, err)
			}
			c2, err := Parse(secret, again, now)
			if err != nil || c2 != c {
				t.Fatalf("re-signed claims %+v (%v), want %+v", c2, err, c)
			}
		}
		check(raw)
		enc := base64.RawURLEncoding.EncodeToString
		check(signRaw(enc(h) + "." + enc(p)))
	})
}
