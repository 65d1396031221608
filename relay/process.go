package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/relay/internal/state"
	"github.com/conflux-atproto/conflux/relay/internal/verify"
)

// process handles one upstream event, reading and writing account state in b
// (committed by the caller before the host cursor passes the event).
// Crash ordering: the event is appended to the log (durably) before its
// account state is written, and the host cursor passes it only after that
// (see pipeline). Pebble's WAL keeps writes in order, so a stored cursor
// implies the state writes before it. A crash in between re-delivers the
// event: a duplicate in the output (which the spec tolerates) or a stale-rev
// drop if its state survived; never a loss, and seqs never repeat because the
// log assigns them. A dropped event returns nil: the cursor moves past it.
func (r *Relay) process(ctx context.Context, in *ingester, ev consumer.Event, b *stateTx) error {
	host := in.snapshot()
	var err error
	switch m := ev.Frame.Msg.(type) {
	case *firehose.Commit:
		r.metrics.eventIn(host.Hostname, firehose.TypeCommit)
		err = r.processCommit(ctx, in, &host, m, b)
	case *firehose.Sync:
		r.metrics.eventIn(host.Hostname, firehose.TypeSync)
		err = r.processSync(ctx, in, &host, m, b)
	case *firehose.Identity:
		r.metrics.eventIn(host.Hostname, firehose.TypeIdentity)
		err = r.processIdentity(ctx, m, b)
	case *firehose.Account:
		r.metrics.eventIn(host.Hostname, firehose.TypeAccount)
		err = r.processAccount(ctx, in, &host, m, b)
	default:
		return nil // #info and unknown types are not forwarded
	}
	var rej *verify.Rejection
	if errors.As(err, &rej) {
		r.dropped(ctx, host.Hostname, ev, rej)
		return nil
	}
	return err
}

// dropped counts and logs a dropped event.
func (r *Relay) dropped(ctx context.Context, host string, ev consumer.Event, rej *verify.Rejection) {
	r.countDrop(rej.Reason)
	level := slog.LevelDebug
	if r.firstDrop(host, rej.Reason) {
		level = slog.LevelInfo // once per host and reason a minute; the metric counts all
	}
	r.log.Log(ctx, level, "dropped event", "host", host, "seq", ev.Seq, "type", ev.Frame.Type, "reason", rej.Reason, "err", rej.Err)
}

// loadAccount reads did's state, creating the account (throttled if the host
// is at its account limit) when it is new. The caller has checked that the
// DID's PDS is this host.
func (r *Relay) loadAccount(in *ingester, host *state.Host, did string, b *stateTx) (*state.Account, error) {
	a, err := r.getAccount(b, did)
	if isNotFound(err) {
		a = &state.Account{DID: did, Host: host.Hostname, Upstream: state.LocalActive, UpstreamActive: true}
		if err := r.countNewAccount(in, b, did); err != nil {
			return nil, err
		}
		// Stored now, so a throttled or inactive account is known (status
		// queries, limit raises) even if its first event is dropped.
		if err := r.newAccount(b, a); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	a.Host = host.Hostname // an account that migrated here moves with its events
	a.Local = r.localStatus(did)
	return a, nil
}

// countNewAccount counts a new account against its host's limit (or
// throttles it). The host record is written with the host cursor (see
// pipeline.save), which orders the writes of concurrent workers.
func (r *Relay) countNewAccount(in *ingester, b *stateTx, did string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	h := &in.mu.host
	in.mu.dirty = true
	if h.AccountCount >= h.AccountLimit {
		return r.setLocal(b.b, did, state.LocalHostThrottled)
	}
	h.AccountCount++
	return nil
}

func (r *Relay) activeCheck(a *state.Account) error {
	if a.Active() {
		return nil
	}
	if a.Local == state.LocalHostThrottled {
		return &verify.Rejection{Reason: verify.ReasonThrottled}
	}
	return &verify.Rejection{Reason: verify.ReasonInactive, Err: fmt.Errorf("local %s, upstream %s", a.Local, a.Upstream)}
}

func prior(a *state.Account) verify.Prior {
	return verify.Prior{Rev: a.Rev, Data: a.Data}
}

func (r *Relay) processCommit(ctx context.Context, in *ingester, host *state.Host, m *firehose.Commit, b *stateTx) error {
	if err := verify.CheckShape(m); err != nil {
		return err
	}
	id, err := r.verify.Resolve(ctx, m.Repo, host.Hostname)
	if err != nil {
		return err
	}
	a, err := r.loadAccount(in, host, m.Repo, b)
	if err != nil {
		return err
	}
	if !a.UpstreamActive && a.Local == state.LocalActive {
		// The account may have come back without us seeing its #account
		// (spec §5.4): ask its host before dropping.
		r.recheckUpstream(ctx, host, a)
	}
	if err := r.activeCheck(a); err != nil {
		return err
	}
	start := time.Now()
	res, err := r.verify.Commit(ctx, m, id, prior(a), host.Lenient)
	r.metrics.verified(time.Since(start).Seconds())
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		r.countWarn(w)
		if w == verify.WarnDiscontinuity {
			a.Breaks++
		}
	}
	out := *m // the log sets seq on its copy; the consumer still reads m
	r.stage(b, &out)
	a.Rev, a.Commit, a.Data = res.Rev, res.Commit, res.Data
	return r.putAccount(b, a)
}

func (r *Relay) processSync(ctx context.Context, in *ingester, host *state.Host, m *firehose.Sync, b *stateTx) error {
	id, err := r.verify.Resolve(ctx, m.DID, host.Hostname)
	if err != nil {
		return err
	}
	a, err := r.loadAccount(in, host, m.DID, b)
	if err != nil {
		return err
	}
	if err := r.activeCheck(a); err != nil {
		return err
	}
	res, err := r.verify.Sync(ctx, m, id)
	if err != nil {
		return err
	}
	p := prior(a)
	if p.Known() && res.Rev < p.Rev {
		return &verify.Rejection{Reason: verify.ReasonStaleRev, Err: fmt.Errorf("sync rev %s, stored %s", res.Rev, p.Rev)}
	}
	// A #sync of the state we already hold is passed on, not dropped: the
	// reference PDS sends one after every account creation and
	// reactivation, downstream consumers treat it as the no-op it is, and
	// counting it as a drop would make every healthy host look faulty.
	out := *m
	r.stage(b, &out)
	if p.Known() && res.Rev == p.Rev && res.Data == p.Data {
		return nil // nothing new to store
	}
	a.Rev, a.Commit, a.Data = res.Rev, res.Commit, res.Data
	return r.putAccount(b, a)
}

// processIdentity refreshes the DID and passes the event on from any host
// (identity events are hints), keeping the handle only if the DID document
// declares the same one.
func (r *Relay) processIdentity(ctx context.Context, m *firehose.Identity, b *stateTx) error {
	// Not rate-limited: an #identity is the signal that the document
	// changed (a rotated key must be seen before the next commit).
	id, err := r.ids.Refresh(ctx, m.DID)
	out := &firehose.Identity{DID: m.DID, Time: m.Time}
	if err == nil && m.Handle != "" && strings.EqualFold(m.Handle, string(id.Handle)) {
		out.Handle = m.Handle
	}
	if err != nil && !errors.Is(err, identity.ErrDIDNotFound) && !errors.Is(err, identity.ErrDIDTombstoned) {
		r.log.Debug("identity refresh", "did", m.DID, "err", err)
	}
	r.stage(b, out)
	return nil
}

// processAccount records the upstream status from the account's current
// host and emits the status recomputed from the local and upstream ones.
func (r *Relay) processAccount(ctx context.Context, in *ingester, host *state.Host, m *firehose.Account, b *stateTx) error {
	if _, err := r.verify.Resolve(ctx, m.DID, host.Hostname); err != nil {
		return err
	}
	a, err := r.loadAccount(in, host, m.DID, b)
	if err != nil {
		return err
	}
	a.UpstreamActive = m.Active
	switch {
	case m.Status != "":
		a.Upstream = m.Status
	case m.Active:
		a.Upstream = state.LocalActive
	default:
		a.Upstream = state.UpstreamInactive
	}
	r.stage(b, &firehose.Account{DID: a.DID, Time: m.Time, Active: a.Active(), Status: a.Status()})
	return r.putAccount(b, a)
}

// stage queues an event of the worker's batch: the pipeline appends the
// batch's events together (one wait on the log instead of one per event),
// then commits their state writes. An event that then fails to encode is
// dropped (ReasonBadFrame) although its account state was already written:
// it is at most the state of a commit nobody saw, and the next one passes
// as a discontinuity. (Frames are re-encoded from events that decoded and
// passed the size checks, so this does not happen in practice.)
func (r *Relay) stage(b *stateTx, e eventlog.Entry) { b.stage(e) }

// emit appends an event to the log at once (the admin paths); it is
// broadcast once durable.
func (r *Relay) emit(ctx context.Context, e interface {
	Frame(seq int64, now time.Time) ([]byte, error)
}) error {
	ev, err := r.events.Append(ctx, e)
	if err != nil {
		return appendErr(ctx, err)
	}
	r.metrics.head(ev.Seq)
	return nil
}

// appendErr classifies a failed append: an event that cannot be re-encoded
// (outside bytes) is a drop, a Rejection (the log failed only that append
// and used no seq); the context's end is returned as is; anything else is
// our own log failing.
func appendErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, firehose.ErrBadFrame) || errors.Is(err, firehose.ErrFrameTooBig) ||
		errors.Is(err, firehose.ErrBlocksTooBig) || errors.Is(err, firehose.ErrTooManyOps) {
		return &verify.Rejection{Reason: verify.ReasonBadFrame, Err: err}
	}
	return fmt.Errorf("append to event log: %w", err)
}

// recheckUpstream asks the account's host for its status
// (com.atproto.sync.getRepoStatus) and updates a's upstream status. Failure
// keeps what we had: the host is the one sending commits for an account it
// says is inactive, so the drop that follows is its own doing.
func (r *Relay) recheckUpstream(ctx context.Context, host *state.Host, a *state.Account) {
	scheme := "https://"
	if host.NoSSL {
		scheme = "http://"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := scheme + host.Hostname + "/xrpc/com.atproto.sync.getRepoStatus?did=" + url.QueryEscape(a.DID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := r.guardedClient().Do(req)
	if err != nil {
		r.log.Debug("getRepoStatus", "host", host.Hostname, "did", a.DID, "err", err)
		return
	}
	defer resp.Body.Close()
	var out struct {
		Active *bool  `json:"active"`
		Status string `json:"status"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out) != nil || out.Active == nil {
		return
	}
	a.UpstreamActive = *out.Active
	switch {
	case out.Status != "":
		a.Upstream = out.Status
	case *out.Active:
		a.Upstream = state.LocalActive
	default:
		a.Upstream = state.UpstreamInactive
	}
}
