package pds

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// benchEnv is a host with fsync on (the default), as the benchmarks
// measure durable commits.
func benchEnv(b *testing.B) *env {
	return newEnv(b, func(c *Config) { c.NoSync = false })
}

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
}

// Sustained commits for one account, one writer: each commit (one new
// post) is durable and sequenced before the next starts.
func BenchmarkCommitsOneAccount(b *testing.B) {
	e := benchEnv(b)
	acct, err := e.pds.CreateAccount(b.Context(), CreateAccountInput{Handle: "bench.test"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		_, err := e.pds.ApplyWrites(b.Context(), acct.DID, []Write{{Action: repo.Create,
			Collection: "app.bsky.feed.post", Value: post(fmt.Sprintf("post %d", i))}}, cid.Undef)
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, start)
}

// Sustained commits across 1,000 accounts from 64 concurrent writers, each
// writing to its own slice of the accounts.
func BenchmarkCommitsManyAccounts(b *testing.B) {
	const accounts, writers = 1000, 64
	e := benchEnv(b)
	dids := make([]string, accounts)
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < accounts; i += 8 {
				a, err := e.pds.CreateAccount(b.Context(), CreateAccountInput{Handle: fmt.Sprintf("u%d.test", i)})
				if err != nil {
					failed.Store(err)
					return
				}
				dids[i] = a.DID
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			for j := 0; ; j++ {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				did := dids[(w+j*writers)%accounts]
				_, err := e.pds.ApplyWrites(b.Context(), did, []Write{{Action: repo.Create,
					Collection: "app.bsky.feed.post", Value: post(fmt.Sprintf("post %d", i))}}, cid.Undef)
				if err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	reportRate(b, start)
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
}
