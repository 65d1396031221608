package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/identity/plc"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/relay"
)

// Common are the settings every scenario shares. The zero value is usable.
type Common struct {
	// Dir is where the scenario's temporary directory is made (the system's
	// temporary directory if empty); it is removed at the end.
	Dir string
	// Progress draws the progress bar; nil draws nothing.
	Progress *Progress
	// Logger gets the services' lines; discarded if nil.
	Logger *slog.Logger
	// BoundDuration is how long the signature bound is measured
	// (DefaultBoundDuration if zero).
	BoundDuration time.Duration
}

func (c Common) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// component is one running service: stopped by cancelling its context and
// waiting for its Run, then closed.
type component struct {
	name   string
	cancel context.CancelFunc
	done   chan error
	close  func() error
}

// cluster runs services on loopback in one process and tears them down,
// with their data, in Close.
type cluster struct {
	dir  string
	log  *slog.Logger
	ctx  context.Context // parent of every component's context
	stop context.CancelFunc

	mu      sync.Mutex
	comps   []*component
	servers []*http.Server
	failed  error // the first component that stopped on its own, with its error

	plcURL string
	ids    *identity.Cache
}

// begin is every scenario's start: measure the machine's signature bound
// into bound (first, while nothing else runs), then start the cluster.
func begin(ctx context.Context, c Common, bound *Bound) (*cluster, error) {
	c.Progress.Phase("signature bound")
	var err error
	if *bound, err = MeasureBound(ctx, c.BoundDuration); err != nil {
		return nil, err
	}
	return newCluster(ctx, c)
}

// newCluster makes the data directory and starts a development PLC
// directory, which every host registers its accounts with.
func newCluster(ctx context.Context, c Common) (*cluster, error) {
	dir, err := os.MkdirTemp(c.Dir, "conflux-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: data directory: %w", err)
	}
	cctx, stop := context.WithCancel(ctx)
	cl := &cluster{dir: dir, log: c.logger(), ctx: cctx, stop: stop}
	dirSvc, err := plc.NewDirectory(plc.DirectoryConfig{Dir: filepath.Join(dir, "plc"), Logger: cl.log, NoSync: true})
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("bench: PLC directory: %w", err)
	}
	cl.add(&component{name: "plc", close: dirSvc.Close})
	if cl.plcURL, err = cl.serve("plc", dirSvc); err != nil {
		cl.Close()
		return nil, err
	}
	res, err := identity.NewResolver(identity.Config{PLCURL: cl.plcURL})
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("bench: resolver: %w", err)
	}
	if cl.ids, err = identity.NewCache(res, identity.CacheConfig{MaxEntries: 1 << 20}); err != nil {
		cl.Close()
		return nil, fmt.Errorf("bench: identity cache: %w", err)
	}
	return cl, nil
}

func (cl *cluster) add(c *component) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.comps = append(cl.comps, c)
}

// run starts fn as a component; closeFn (may be nil) runs after fn returned.
func (cl *cluster) run(name string, fn func(ctx context.Context) error, closeFn func() error) {
	ctx, cancel := context.WithCancel(cl.ctx)
	c := &component{name: name, cancel: cancel, done: make(chan error, 1), close: closeFn}
	cl.add(c)
	go func() {
		var err error
		// Labelled, so that a CPU profile of a run (conflux bench
		// --cpuprofile; go tool pprof -tags) splits its cost by service.
		pprof.Do(ctx, pprof.Labels("component", name), func(ctx context.Context) { err = fn(ctx) })
		if ctx.Err() == nil {
			// Stopped on its own: the measurement is void.
			cl.mu.Lock()
			if cl.failed == nil {
				cl.failed = fmt.Errorf("%s stopped: %v", name, err)
			}
			cl.mu.Unlock()
		}
		c.done <- err
	}()
}

// err reports a component that stopped before Close.
func (cl *cluster) err() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.failed
}

// serve serves h on a free loopback port and returns its http:// URL.
// name labels its goroutines in CPU profiles.
func (cl *cluster) serve(name string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: listen: %w", err)
	}
	cl.serveOn(name, ln, h)
	return "http://" + ln.Addr().String(), nil
}

func (cl *cluster) serveOn(name string, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	cl.mu.Lock()
	cl.servers = append(cl.servers, srv)
	cl.mu.Unlock()
	go pprof.Do(context.Background(), pprof.Labels("component", name+" http"), func(context.Context) { _ = srv.Serve(ln) })
}

// Close stops components newest first, closes the listeners and removes
// the data directory.
func (cl *cluster) Close() error {
	cl.mu.Lock()
	comps, servers := cl.comps, cl.servers
	cl.comps, cl.servers = nil, nil
	cl.mu.Unlock()
	var errs []error
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		if c.cancel != nil {
			c.cancel()
			if err := <-c.done; err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			}
		}
		if c.close != nil {
			if err := c.close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", c.name, err))
			}
		}
	}
	for _, s := range servers {
		_ = s.Close()
	}
	cl.stop()
	if err := os.RemoveAll(cl.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// host is one repository host of the cluster.
type host struct {
	name string
	pds  *pds.PDS
	url  string
}

// addHost starts a host whose accounts are did:plc in the cluster's
// directory. noSync turns its fsyncs off.
func (cl *cluster) addHost(name string, noSync bool) (*host, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: host %s: %w", name, err)
	}
	u := "http://" + ln.Addr().String()
	p, err := pds.New(pds.Config{
		DataDir: filepath.Join(cl.dir, "pds-"+name), PublicURL: u, PLCURL: cl.plcURL,
		HandleDomains: []string{"." + name + ".test"}, NoSync: noSync, BcryptCost: 4,
		Logger: cl.log.With("host", name),
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("bench: host %s: %w", name, err)
	}
	cl.serveOn("host "+name, ln, p.Handler())
	cl.run("host "+name, p.Run, p.Close)
	return &host{name: name, pds: p, url: u}, nil
}

// createAccounts creates n accounts on h, workers at a time, and returns
// their DIDs in order.
func (h *host) createAccounts(ctx context.Context, n, workers int, prog func()) ([]string, error) {
	dids := make([]string, n)
	errc := make(chan error, workers)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				handle := fmt.Sprintf("u%d.%s.test", i, h.name)
				a, err := h.pds.CreateAccount(ctx, pds.CreateAccountInput{Handle: handle})
				if err != nil {
					errc <- fmt.Errorf("bench: create account on %s: %w", h.name, err)
					return
				}
				dids[i] = a.DID
				if prog != nil {
					prog()
				}
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case next <- i:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return dids, err
}

// warm resolves dids into the identity cache, so that a measurement starts
// in the steady state of a relay that has seen these accounts before.
func (cl *cluster) warm(ctx context.Context, dids []string) error {
	for _, d := range dids {
		if _, err := cl.ids.Lookup(ctx, d); err != nil {
			return fmt.Errorf("bench: resolve %s: %w", d, err)
		}
	}
	return nil
}

// relayOptions are the cluster relay's settings.
type relayOptions struct {
	noSync bool
	// workers is relay.Config.HostWorkers (0: the relay's default).
	workers int
}

// startRelay starts a relay that resolves identities through the
// cluster's cache and serves on loopback. It returns the relay and its URL.
func (cl *cluster) startRelay(opts relayOptions) (*relay.Relay, string, error) {
	r, err := relay.New(relay.Config{
		DataDir: filepath.Join(cl.dir, "relay"), Identities: cl.ids, Dev: true,
		DefaultAccountLimit: 1 << 30, MaxConnsPerIP: -1, NoSync: opts.noSync,
		HostWorkers: opts.workers, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: cl.log.With("service", "relay"),
	})
	if err != nil {
		return nil, "", fmt.Errorf("bench: relay: %w", err)
	}
	u, err := cl.serve("relay", r.Handler())
	if err != nil {
		r.Close()
		return nil, "", err
	}
	cl.run("relay", r.Run, r.Close)
	return r, u, nil
}

// addHosts makes the relay crawl hosts from the start of their logs.
func addHosts(ctx context.Context, r *relay.Relay, hosts []*host) error {
	var err error
	// AddHost starts the host's ingester: label it as the relay's work.
	pprof.Do(ctx, pprof.Labels("component", "relay"), func(ctx context.Context) {
		for _, h := range hosts {
			// A host added before the relay's Run is up is stored and
			// started by Run, so there is no race here.
			if err = r.AddHost(ctx, h.url, relay.HostOptions{Backfill: true}); err != nil {
				err = fmt.Errorf("bench: relay: add host %s: %w", h.url, err)
				return
			}
		}
	})
	return err
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }
