package relay

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/crypto"
)

// mapIDs resolves from a fixed map: the benchmark measures verification,
// not a PLC directory.
type mapIDs map[string]*identity.Identity

func (m mapIDs) Lookup(_ context.Context, did string) (*identity.Identity, error) {
	if id, ok := m[did]; ok {
		return id, nil
	}
	return nil, identity.ErrDIDNotFound
}

func (m mapIDs) Refresh(ctx context.Context, did string) (*identity.Identity, error) {
	return m.Lookup(ctx, did)
}

// ingestFixture is hosts x accounts x commits frames, signed and proven.
type ingestFixture struct {
	frames  [][][]byte // per host
	ids     mapIDs
	hosts   []*frameHost
	total   int
	samples []*firehose.Commit // commits of distinct accounts for the signature bound
}

func newIngestFixture(b *testing.B, hosts, accounts, commits int) *ingestFixture {
	b.Helper()
	fx := &ingestFixture{ids: mapIDs{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	fx.frames = make([][][]byte, hosts)
	for range hosts {
		fx.hosts = append(fx.hosts, newFrameHost(b, nil))
	}
	for h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var frames [][]byte
			seq := int64(0)
			repos := make([]*testRepo, accounts)
			for a := range accounts {
				repos[a] = newTestRepo(b, h*accounts+a)
				id := docIdentity(b, repos[a], fx.hosts[h].URL)
				mu.Lock()
				fx.ids[repos[a].did] = id
				mu.Unlock()
			}
			for range commits {
				for _, tr := range repos {
					seq++
					ev := tr.create(b)
					mu.Lock()
					if len(fx.samples) < 1000 {
						fx.samples = append(fx.samples, ev)
					}
					mu.Unlock()
					frames = append(frames, frame(b, ev, seq))
				}
			}
			fx.frames[h] = frames
			fx.hosts[h].mu.Lock()
			fx.hosts[h].frames = frames
			fx.hosts[h].mu.Unlock()
			fx.hosts[h].prebuild()
		}()
	}
	wg.Wait()
	fx.total = hosts * accounts * commits
	return fx
}

func docIdentity(b testing.TB, tr *testRepo, pds string) *identity.Identity {
	b.Helper()
	raw := fmt.Sprintf(`{"id":%q,"verificationMethod":[{"id":"%s#atproto","type":"Multikey","controller":%q,"publicKeyMultibase":%q}],`+
		`"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":%q}]}`,
		tr.did, tr.did, tr.did, tr.key.Public().Multibase(), pds)
	id, err := identity.ParseDocument(tr.did, []byte(raw))
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// arm prebuilds every host's stream and holds it at the gate.
func (fx *ingestFixture) arm() {
	for _, h := range fx.hosts {
		h.prebuild()
	}
}

// connect subscribes r to every host and waits until each has connected,
// so that the measured window is sustained ingest, not connection set-up.
func (fx *ingestFixture) connect(b *testing.B, r *Relay) {
	b.Helper()
	for _, h := range fx.hosts {
		if err := r.AddHost(context.Background(), "ws://"+h.hostname(), HostOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, "hosts connected", func() bool {
		for _, h := range fx.hosts {
			if !h.ready() {
				return false
			}
		}
		return true
	})
}

// release lets every host stream.
func (fx *ingestFixture) release() {
	for _, h := range fx.hosts {
		h.start()
	}
}

// signatureBound measures signature verifications per second with every
// core verifying at once (cores x verifications/s, as the cores deliver them
// together), over commits of 1,000 distinct accounts as real traffic has:
// no verifying relay can beat it. perCPU is the same per CPU second used,
// which other processes on the machine disturb much less.
func signatureBound(b *testing.B, fx *ingestFixture) (bound, perCPU float64) {
	type job struct {
		c   *repo.Commit
		pub crypto.PublicKey
	}
	var jobs []job
	for _, ev := range fx.samples {
		checked, err := repo.CheckCommitProof(ev.Evidence(), car.CommitLimits())
		if err != nil {
			b.Fatal(err)
		}
		pub, err := fx.ids[ev.Repo].PublicKey()
		if err != nil {
			b.Fatal(err)
		}
		jobs = append(jobs, job{checked.Commit, pub})
	}
	const n = 2000
	procs := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	start, c0 := time.Now(), cpuTime()
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				j := jobs[(i*procs+p)%len(jobs)]
				if err := j.c.VerifySignature(j.pub); err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n*procs) / time.Since(start).Seconds(), float64(n*procs) / (cpuTime() - c0).Seconds()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngest: 10 hosts x 1,000 accounts, 5 commits each, fully
// verified (CAR, hashes, signature, inversion) and sequenced; reported
// against the signature-verification bound measured in the same run, just
// before and just after the ingest (their mean: on a shared machine the
// CPU on offer drifts). The window starts once every host is connected and
// ends when the last event is durable in the log. The hosts, in the same
// process, send prebuilt frames in big writes.
func BenchmarkIngest(b *testing.B) {
	fx := newIngestFixture(b, 10, 1000, 5)
	var events, secs, cpu, bound, perCPU float64
	for b.Loop() {
		before, beforeCPU := signatureBound(b, fx)
		fx.arm()
		r := startRelay(b, Config{Identities: fx.ids, DefaultAccountLimit: 1 << 20, HostWorkers: 32})
		fx.connect(b, r)
		c0, t0 := cpuTime(), time.Now()
		fx.release()
		for r.Head() < int64(fx.total) {
			time.Sleep(time.Millisecond)
		}
		secs += time.Since(t0).Seconds()
		cpu += (cpuTime() - c0).Seconds()
		events += float64(fx.total)
		if d, _ := r.Counts(); len(d) > 0 {
			b.Fatalf("drops %v", d)
		}
		after, afterCPU := signatureBound(b, fx)
		bound += (before + after) / 2
		perCPU += (beforeCPU + afterCPU) / 2
	}
	rate := events / secs
	bound /= float64(b.N)
	perCPU /= float64(b.N)
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(cpu/secs, "cores")
	b.ReportMetric(bound, "sigbound/s")
	b.ReportMetric(rate/bound, "ratio")
	// The same ratio per CPU second actually spent: the share of the
	// relay's CPU that went to signature checks, which other load on the
	// machine disturbs much less than the wall-clock ratio.
	b.ReportMetric(events/cpu/perCPU, "cpu-ratio")
}

// BenchmarkFanout: the ingest above with 100 subscribers reading live;
// reports the p99 of append-to-receipt latency. The subscribers only read
// each message into a reused buffer and peek its seq, as a cheap client
// would; they share the machine with the relay and the hosts.
func BenchmarkFanout(b *testing.B) {
	fx := newIngestFixture(b, 10, 1000, 1)
	const subs = 100
	var lat []time.Duration
	var rate float64
	for b.Loop() {
		fx.arm()
		r := startRelay(b, Config{Identities: fx.ids, DefaultAccountLimit: 1 << 20, MaxConnsPerIP: -1})
		srv := httptest.NewServer(r.Handler())
		recv := make([][]time.Time, subs)
		var wg sync.WaitGroup
		for i := range subs {
			recv[i] = make([]time.Time, fx.total+1)
			conn, _, err := (&websocket.Dialer{ReadBufferSize: 64 << 10}).Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/xrpc/com.atproto.sync.subscribeRepos", nil)
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				readSeqs(conn, recv[i], fx.total)
			}()
		}
		fx.connect(b, r)
		fx.release()
		wg.Wait()
		evs, err := r.events.ReadFrom(0, nil, fx.total)
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) > 1 {
			rate = float64(len(evs)) / evs[len(evs)-1].Time.Sub(evs[0].Time).Seconds()
		}
		for _, ev := range evs {
			for i := range subs {
				if t := recv[i][ev.Seq]; !t.IsZero() {
					lat = append(lat, t.Sub(ev.Time))
				}
			}
		}
		srv.Close()
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(rate, "ingest-events/s")
		b.ReportMetric(float64(len(lat))/float64(b.N), "deliveries")
	}
}

// readSeqs reads n events, recording when each seq arrived in at (indexed
// by seq). Each message is read into one reused buffer: the client does
// not decode frames, it only peeks at the seq.
func readSeqs(conn *websocket.Conn, at []time.Time, n int) {
	buf := make([]byte, 0, 64<<10)
	for got := 0; got < n; {
		_, rd, err := conn.NextReader()
		if err != nil {
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = slices.Grow(buf, len(buf))
			}
			m, err := rd.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		now := time.Now()
		if seq, ok, _ := firehose.PeekSeq(buf); ok && seq > 0 && seq < int64(len(at)) {
			at[seq] = now
			got++
		}
	}
}
