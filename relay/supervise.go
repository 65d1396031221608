package relay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/relay/internal/state"
)

// Why a host stopped being ingested: the reason stored with its status,
// shown by getHostStatus and counted by conflux_relay_host_stops_total. A
// bounded set.
const (
	StopGaveUp       = "gave_up"       // MaxFailures connections in a row failed: offline
	StopFutureCursor = "future_cursor" // the host has nothing at our cursor: idle
	StopRelayLoop    = "relay_loop"    // the host's handshake says it is a relay: banned
	StopProcessing   = "processing"    // our own store or log failed: offline, retried with backoff
	StopSetupFailure = "setup_failure" // the ingester could not be built (our store): offline, retried
)

// The delay before retrying a host whose processing failed doubles from
// retryBackoffBase to maxRetryBackoff (jittered).
const (
	retryBackoffBase = 50 * time.Millisecond
	maxRetryBackoff  = 5 * time.Minute
)

// errProcessing marks a failure of our own processing (state store, event
// log) as opposed to the host's connection.
var errProcessing = errors.New("relay: processing failed")

func (r *Relay) startIngester(h *state.Host) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.runCtx == nil || r.mu.ingesters[h.Hostname] != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.mu.runCtx)
	in := &ingester{cancel: cancel, limiter: newLimiter(r.cfg.rateLimits(), nil, nil)}
	if in.limiter != nil {
		in.limiter.onWait = r.metrics.rateWait
	}
	in.mu.host = *h
	r.mu.ingesters[h.Hostname] = in
	r.mu.wg.Add(1)
	go r.superviseHost(ctx, in)
}

// superviseHost ingests one host until ctx ends or the host must stop. A
// failure of our own processing does not end it: the host is marked
// offline with the reason, and ingestion restarts from the stored cursor
// after a jittered, growing delay (the failure may be a full disk an
// operator is fixing). Connection failures are the consumer's to retry;
// when it gives up the host goes offline for good (until requestCrawl).
func (r *Relay) superviseHost(ctx context.Context, in *ingester) {
	defer r.mu.wg.Done()
	hostname := in.snapshot().Hostname
	defer func() {
		in.cancel()
		r.mu.Lock()
		delete(r.mu.ingesters, hostname)
		r.mu.Unlock()
	}()
	for failures := 0; ; failures++ {
		err := r.ingestOnce(ctx, in)
		if ctx.Err() != nil {
			return // stopped: shutdown, StopHost or a ban (StopHost records the status)
		}
		status, reason, retry := classifyStop(err)
		if err != nil {
			r.log.Error("host ingester stopped", "host", hostname, "reason", reason, "err", err)
		}
		r.setHostStatus(in, status, reason, err)
		r.metrics.hostStop(reason)
		if !retry {
			return
		}
		if !sleepCtx(ctx, retryDelay(failures)) {
			return
		}
		r.setHostStatus(in, state.HostActive, "", nil)
	}
}

// classifyStop maps why an ingester run ended to the host's status, the
// stop reason, and whether to retry.
func classifyStop(err error) (status, reason string, retry bool) {
	switch {
	case errors.Is(err, ErrRelayLoop):
		return state.HostBanned, StopRelayLoop, false
	case errors.Is(err, consumer.ErrGaveUp):
		return state.HostOffline, StopGaveUp, false
	case errors.Is(err, consumer.ErrFutureCursor):
		return state.HostIdle, StopFutureCursor, false
	case errors.Is(err, errProcessing):
		return state.HostOffline, StopProcessing, true
	default:
		// The consumer returns nil only when its context ended; anything
		// else is our own setup (checkpoint, config) failing.
		return state.HostOffline, StopSetupFailure, true
	}
}

// retryDelay is the jittered wait before the n-th retry (n from 0):
// doubling from retryBackoffBase up to maxRetryBackoff.
func retryDelay(n int) time.Duration {
	d := retryBackoffBase << min(n, 20)
	d = min(d, maxRetryBackoff)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// setHostStatus records a host's status and stop reason, in memory and in
// the store (synced: an operator reads it to find out what went wrong).
func (r *Relay) setHostStatus(in *ingester, status, reason string, cause error) {
	in.mu.Lock()
	in.mu.host.Status, in.mu.host.Reason = status, reason
	if cause != nil {
		in.mu.host.Reason = reason + ": " + truncate(cause.Error(), 200)
	}
	h := in.mu.host
	in.mu.Unlock()
	err := state.PutHost(r.db, &h)
	if err == nil {
		err = state.Sync(r.db)
	}
	if err != nil {
		r.log.Error("save host status", "host", h.Hostname, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ingestOnce runs one consumer over the host from its stored cursor until
// ctx ends, the consumer gives up, or processing fails (errProcessing).
func (r *Relay) ingestOnce(ctx context.Context, in *ingester) error {
	h := in.snapshot()
	cursor := consumer.NoCursor
	if h.Backfill {
		cursor = 0
	}
	cp, err := consumer.NewCheckpoint(r.db, "host/"+h.Hostname)
	if err != nil {
		return err
	}
	if saved, ok, err := cp.Load(); err != nil {
		return err
	} else if ok {
		cursor = saved
	}
	scheme := "wss://"
	if h.NoSSL {
		scheme = "ws://"
	}
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	pipe := newPipeline(r, in, cp, r.cfg.HostWorkers, func(err error) {
		stop(fmt.Errorf("%w: %w", errProcessing, err))
	})
	guard := &loopGuard{dial: r.guardedDialer().DialContext, tls: r.tlsConfig(), refuse: func() {
		stop(fmt.Errorf("%w: %s", ErrRelayLoop, h.Hostname))
	}}
	c, err := consumer.New(consumer.Config{
		URL:        scheme + h.Hostname,
		Cursor:     cursor,
		MinBackoff: r.cfg.MinBackoff, MaxBackoff: r.cfg.MaxBackoff, MaxFailures: r.cfg.MaxFailures,
		Header:  map[string][]string{"User-Agent": {UserAgent}},
		Dialer:  &websocket.Dialer{NetDialContext: guard.dialPlain, NetDialTLSContext: guard.dialTLS},
		Logger:  r.cfg.Logger,
		Metrics: r.cmetric,
		Handler: consumer.HandlerFunc(func(ctx context.Context, ev consumer.Event) error {
			if err := in.limiter.wait(ctx); err != nil {
				return err
			}
			return pipe.HandleEvent(ctx, ev)
		}),
	})
	if err != nil {
		return err
	}
	pipe.start(runCtx)
	err = c.Run(runCtx)
	pipe.stop()
	if cause := context.Cause(runCtx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	return err
}
