package plc

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/conflux-atproto/conflux/repo/crypto"
)

// BenchmarkSubmitGenesis posts distinct genesis operations through the HTTP
// handler (parse, validate, verify, store). The operations are signed
// before the timer starts: signing is the client's cost, not the
// directory's. "sync" fsyncs each operation as the directory does by
// default; "nosync" shows the CPU cost alone.
func BenchmarkSubmitGenesis(b *testing.B) {
	for _, c := range []struct {
		name   string
		noSync bool
	}{{"sync", false}, {"nosync", true}} {
		b.Run(c.name, func(b *testing.B) {
			d, err := NewDirectory(DirectoryConfig{Dir: b.TempDir(), NoSync: c.noSync, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			rot := testKey(b, crypto.AlgK256, 1)
			sk := testKey(b, crypto.AlgK256, 2).Public()
			type sub struct {
				did  string
				body []byte
			}
			subs := make([]sub, b.N)
			for i := range subs {
				// The handle makes each genesis, hence each DID, distinct.
				did, op, err := CreateGenesis([]crypto.PublicKey{rot.Public()}, sk,
					"u"+strconv.Itoa(i)+".example.test", "https://pds.example.test", rot)
				if err != nil {
					b.Fatal(err)
				}
				subs[i] = sub{did, mustJSON(b, op)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, s := range subs {
				rec := httptest.NewRecorder()
				d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/"+s.did, bytes.NewReader(s.body)))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkGetDocument serves the DID document of a DID with a genesis and
// one update, through the HTTP handler.
func BenchmarkGetDocument(b *testing.B) {
	d, err := NewDirectory(DirectoryConfig{Dir: b.TempDir(), NoSync: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	a := newAccount(b, 1, "bench.example.test")
	if err := d.Submit(a.did, a.head()); err != nil {
		b.Fatal(err)
	}
	if err := d.Submit(a.did, a.update(b, a.rotation, nil)); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/"+a.did, nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
