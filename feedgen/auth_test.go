package feedgen

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/repo/crypto"
)

// plcServer is a PLC directory speaking the real protocol (GET /{did}).
type plcServer struct {
	mu   sync.Mutex
	keys map[string]crypto.PublicKey
	hits map[string]int
}

func (s *plcServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	did := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	key, ok := s.keys[did]
	s.hits[did]++
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	doc := map[string]any{
		"@context": []string{"https://www.w3.org/ns/did/v1"},
		"id":       did,
		"verificationMethod": []map[string]string{{
			"id": did + "#atproto", "type": "Multikey", "controller": did, "publicKeyMultibase": key.Multibase(),
		}},
	}
	_ = json.NewEncoder(w).Encode(doc)
}

func (s *plcServer) setKey(did string, k crypto.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[did] = k
}

const (
	didK = "did:plc:kkkkkkkkkkkkkkkkkkkkkkkk"
	didP = "did:plc:pppppppppppppppppppppppp"
)

func mint(t *testing.T, key crypto.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(header) + "." + enc(claims)
	sig, err := key.Sign([]byte(signed))
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// highS turns a low-S signature into its malleable twin (n - s).
func highS(t *testing.T, tok string, order *big.Int) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(order, s)
	s.FillBytes(sig[32:])
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

var (
	orderK256, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)
	orderP256, _ = new(big.Int).SetString("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
)

func TestServiceAuth(t *testing.T) {
	t.Parallel()
	kK, err := crypto.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	kP, err := crypto.GenerateP256()
	if err != nil {
		t.Fatal(err)
	}
	plc := &plcServer{keys: map[string]crypto.PublicKey{didK: kK.Public(), didP: kP.Public()}, hits: map[string]int{}}
	plcSrv := httptest.NewServer(plc)
	t.Cleanup(plcSrv.Close)
	res, err := identity.NewResolver(identity.Config{PLCURL: plcSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := identity.NewCache(res, identity.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	g := newTestGenerator(t, memDB(t))
	g.cfg.Auth = &AuthConfig{Keys: cache, Required: true, Now: func() time.Time { return now }}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	claims := func(iss string, edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": iss, "aud": testService, "exp": now.Unix() + 60, "iat": now.Unix(), "lxm": methodGetFeedSkeleton, "jti": "abc"}
		if edit != nil {
			edit(c)
		}
		return c
	}
	hK := map[string]any{"alg": "ES256K", "typ": "JWT"}
	hP := map[string]any{"alg": "ES256", "typ": "JWT"}
	valid := mint(t, kK, hK, claims(didK, nil))
	other, err := crypto.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	noneTok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+didK+`","aud":"`+testService+`","exp":1900000000}`)) + "."

	cases := []struct {
		name   string
		auth   string
		status int
	}{
		{"valid ES256K", "Bearer " + valid, 200},
		{"valid ES256", "Bearer " + mint(t, kP, hP, claims(didP, nil)), 200},
		{"iss with fragment", "Bearer " + mint(t, kK, hK, claims(didK+"#atproto_labeler", nil)), 200},
		{"no lxm", "Bearer " + mint(t, kK, hK, claims(didK, func(c map[string]any) { delete(c, "lxm") })), 200},
		{"exp within leeway", "Bearer " + mint(t, kK, hK, claims(didK, func(c map[string]any) { c["exp"] = now.Unix() - 5 })), 200},
		{"expired", "Bearer " + mint(t, kK, hK, claims(didK, func(c map[string]any) { c["exp"] = now.Unix() - 3600 })), 401},
		{"wrong aud", "Bearer " + mint(t, kK, hK, claims(didK, func(c map[string]any) { c["aud"] = "did:web:other.test" })), 401},
		{"wrong lxm", "Bearer " + mint(t, kK, hK, claims(didK, func(c map[string]any) { c["lxm"] = "app.bsky.feed.getTimeline" })), 401},
		{"bad signature", "Bearer " + mint(t, other, hK, claims(didK, nil)), 401},
		{"high-S K256", "Bearer " + highS(t, valid, orderK256), 401},
		{"high-S P256", "Bearer " + highS(t, mint(t, kP, hP, claims(didP, nil)), orderP256), 401},
		{"alg none", "Bearer " + noneTok, 401},
		{"alg mismatch", "Bearer " + mint(t, kK, hP, claims(didK, nil)), 401},
		{"access token typ", "Bearer " + mint(t, kK, map[string]any{"alg": "ES256K", "typ": "at+jwt"}, claims(didK, nil)), 401},
		{"unknown issuer", "Bearer " + mint(t, kK, hK, claims("did:plc:zzzzzzzzzzzzzzzzzzzzzzzz", nil)), 401},
		{"two parts", "Bearer a.b", 401},
		{"not bearer", "Basic abc", 401},
		{"missing", "", 401},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("GET", srv.URL+"/xrpc/app.bsky.feed.getFeedSkeleton?"+url.Values{"feed": {g.FeedURI("all")}}.Encode(), nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body xrpcBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d (%+v), want %d", c.name, resp.StatusCode, body, c.status)
		}
		if c.status == 401 && body.Error != "AuthenticationRequired" {
			t.Errorf("%s: XRPC error %+v", c.name, body)
		}
	}

	// Key rotation: the cached key is stale, one forced refresh finds the
	// new one.
	rotated, err := crypto.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	plc.setKey(didK, rotated.Public())
	req, _ := http.NewRequest("GET", srv.URL+"/xrpc/app.bsky.feed.getFeedSkeleton?"+url.Values{"feed": {g.FeedURI("all")}}.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+mint(t, rotated, hK, claims(didK, nil)))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after rotation: %d", resp.StatusCode)
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NksifQ.eyJpc3MiOiJkaWQ6cGxjOmEifQ.AAAA")
	f.Add("a.b.c")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(strings.Repeat("a.", 3000))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseToken(s)
		if err != nil {
			return
		}
		if p.header.Alg != crypto.AlgK256 && p.header.Alg != crypto.AlgP256 {
			t.Fatalf("accepted alg %q", p.header.Alg)
		}
		if !strings.HasPrefix(s, string(p.signed)+".") {
			t.Fatal("signed part is not the token's prefix")
		}
		_ = p.checkClaims(testService, time.Unix(0, 0), time.Second)
	})
}
