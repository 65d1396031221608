package appview

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/appview/internal/index"
	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/identity"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/car"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// DropReason says why a whole event was not indexed; it is a metric label.
type DropReason string

const (
	DropBadProof     DropReason = "bad_proof"
	DropNoKey        DropReason = "no_key"
	DropBadSignature DropReason = "bad_signature"
	DropBadBlocks    DropReason = "bad_blocks"
	// DropStale: a commit at or below the repo's applied rev (not an error:
	// redelivery after a crash or a rewound cursor).
	DropStale DropReason = "stale_rev"
	// DropDesync counts chain breaks (since or prevData mismatch); the
	// commit itself is still applied after the resync.
	DropDesync DropReason = "desync"
	// DropDeletedAccount: a commit of an account deleted (and purged)
	// before it.
	DropDeletedAccount DropReason = "deleted_account"
)

// Metrics of the indexer. A nil *Metrics is a no-op.
type Metrics struct {
	dropped *prometheus.CounterVec
	skipped *prometheus.CounterVec
	events  *prometheus.CounterVec
}

// NewMetrics registers the indexer's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_appview_events_dropped_total",
			Help: "Events not indexed, by reason.",
		}, []string{"reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_appview_records_skipped_total",
			Help: "Record ops not indexed, by reason.",
		}, []string{"reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conflux_appview_events_total",
			Help: "Events indexed, by type.",
		}, []string{"type"}),
	}
	reg.MustRegister(m.dropped, m.skipped, m.events)
	return m
}

func (m *Metrics) drop(r DropReason) {
	if m != nil {
		m.dropped.WithLabelValues(string(r)).Inc()
	}
}

func (m *Metrics) skip(r index.SkipReason) {
	if m != nil {
		m.skipped.WithLabelValues(string(r)).Inc()
	}
}

func (m *Metrics) event(typ string) {
	if m != nil {
		m.events.WithLabelValues(typ).Inc()
	}
}

// indexer turns firehose events into index writes. Each event goes
// through two steps: prepare (verify the commit, decode and validate its
// records), which depends only on the event and the signing key and so
// runs out of order on the pipeline's workers; and apply, which reads and
// writes the index and runs in stream order. HandleEvent does both, for
// the sequential durable consumer (NewConsumer).
type indexer struct {
	ix      *index.Index
	verify  bool
	keys    identity.DIDResolver
	log     *slog.Logger
	metrics *Metrics
	fetch   repoFetcher
	limit   *limiter
}

var _ consumer.DurableHandler = (*indexer)(nil)

// prepared is what prepare made of one event. For a #commit: drop set
// means it is dropped (counted when applied), retry that the signing key
// could not be resolved for now (err wraps consumer.ErrRetry); otherwise
// data is the commit's MST root and ops carry the prepared records.
type prepared struct {
	drop  DropReason
	err   error
	retry bool
	data  cid.CID
	ops   []index.Op
}

// HandleEvent indexes one event into b. Outside bytes that fail a check
// drop the event (counted); only Pebble errors and a transient key
// resolution failure (retried) are returned.
func (x *indexer) HandleEvent(ctx context.Context, ev consumer.Event, b *pebble.Batch) error {
	p := x.prepare(ctx, ev)
	if p.retry {
		return p.err
	}
	return x.apply(ctx, ev, p, b)
}

// prepare verifies a #commit (proof and signature, unless verification is
// off) and decodes and validates its records. It touches no index state.
func (x *indexer) prepare(ctx context.Context, ev consumer.Event) prepared {
	c, ok := ev.Frame.Msg.(*firehose.Commit)
	if !ok {
		return prepared{}
	}
	var blocks car.Blocks
	var p prepared
	if x.verify {
		checked, err := repo.CheckCommitProof(c.Evidence(), car.Limits{})
		if err != nil {
			return prepared{drop: DropBadProof, err: err}
		}
		if err := x.checkSignature(ctx, checked.Commit); err != nil {
			if errors.Is(err, consumer.ErrRetry) {
				return prepared{retry: true, err: err}
			}
			return prepared{drop: DropBadSignature, err: err}
		}
		blocks, p.data = checked.Blocks, checked.Commit.Data
	} else {
		_, bl, err := car.ReadBytes(c.Blocks, car.Limits{})
		if err != nil {
			return prepared{drop: DropBadBlocks, err: err}
		}
		cm, err := repo.ParseCommit(bl[c.Commit])
		if err != nil {
			return prepared{drop: DropBadBlocks, err: err}
		}
		blocks, p.data = bl, cm.Data
	}
	p.ops = make([]index.Op, len(c.Ops))
	for i, op := range c.Ops {
		o := index.Op{Action: index.Action(op.Action), Path: op.Path, CID: op.CID}
		if op.CID.Defined() {
			o.Record = blocks[op.CID]
		}
		if o.Action == index.Create || o.Action == index.Update {
			coll, _, _ := strings.Cut(op.Path, "/")
			o.Stored, o.Skip = index.Prepare(coll, o.Record)
			o.Prepared = true
		}
		p.ops[i] = o
	}
	return p
}

// apply writes a prepared event's effects into b, in stream order.
func (x *indexer) apply(ctx context.Context, ev consumer.Event, p prepared, b *pebble.Batch) error {
	switch m := ev.Frame.Msg.(type) {
	case *firehose.Commit:
		x.metrics.event("commit")
		if p.drop != "" {
			return x.dropped(p.drop, m, p.err)
		}
		return x.commit(ctx, m, p, b)
	case *firehose.Sync:
		x.metrics.event("sync")
		return x.syncEvent(ctx, m, b)
	case *firehose.Identity:
		x.metrics.event("identity")
		return x.ix.ApplyIdentity(b, m.DID, m.Handle)
	case *firehose.Account:
		x.metrics.event("account")
		return x.account(ctx, m, b)
	}
	return nil
}

func (x *indexer) commit(ctx context.Context, c *firehose.Commit, p prepared, b *pebble.Batch) error {
	st, seen, err := index.GetRepoState(b, c.Repo)
	if err != nil {
		return err
	}
	if seen && c.Rev <= st.Rev {
		// Already applied (a redelivery, a rewound cursor) or older than a
		// resync: its effects are in the index.
		x.metrics.drop(DropStale)
		return nil
	}
	author, err := index.GetActor(b, c.Repo)
	if err != nil {
		return err
	}
	if author.Status == index.StatusDeleted {
		// Purged; it is fetched whole again if it is ever reactivated.
		return x.dropped(DropDeletedAccount, c, nil)
	}
	if seen && (st.Desynced || c.Since != st.Rev || (c.PrevData.Defined() && c.PrevData != st.Data)) {
		x.metrics.drop(DropDesync)
		got, err := x.resync(ctx, c.Repo, b)
		switch {
		case err == nil:
			if c.Rev <= got.Rev {
				return index.PutRepoState(b, c.Repo, got)
			}
			st.Desynced = false
		case errors.Is(err, errRateLimited):
			st.Desynced = true
		default:
			x.log.Warn("resync failed", "did", c.Repo, "err", err)
			st.Desynced = true
		}
	}
	if err := x.ix.ApplyCommitBy(b, author, p.ops); err != nil {
		return err
	}
	return index.PutRepoState(b, c.Repo, index.RepoState{Rev: c.Rev, Data: p.data, Desynced: st.Desynced})
}

// account applies an #account event. A deleted account is purged by the
// index; if it comes back, its repository is fetched again (or marked, to
// be fetched at its next commit, when the resync budget is spent).
func (x *indexer) account(ctx context.Context, m *firehose.Account, b *pebble.Batch) error {
	restored, err := x.ix.ApplyAccount(b, m.DID, m.Active, m.Status)
	if err != nil || !restored {
		return err
	}
	got, err := x.resync(ctx, m.DID, b)
	if err != nil {
		if !errors.Is(err, errRateLimited) {
			x.log.Warn("resync of a restored account failed", "did", m.DID, "err", err)
		}
		return nil // the purge left the repository marked desynchronised
	}
	return index.PutRepoState(b, m.DID, got)
}

// syncEvent handles #sync: the repository was reset to a new state the
// stream does not describe op by op, so it is resynced (or marked, to be
// resynced at its next commit if the budget is spent).
func (x *indexer) syncEvent(ctx context.Context, m *firehose.Sync, b *pebble.Batch) error {
	st, _, err := index.GetRepoState(b, m.DID)
	if err != nil {
		return err
	}
	if st.Rev != "" && m.Rev <= st.Rev {
		return nil // already at or past this state
	}
	if a, err := index.GetActor(b, m.DID); err != nil || a.Status == index.StatusDeleted {
		return err // a purged account is fetched again only if it comes back
	}
	got, err := x.resync(ctx, m.DID, b)
	if err != nil {
		if !errors.Is(err, errRateLimited) {
			x.log.Warn("resync failed", "did", m.DID, "err", err)
		}
		st.Desynced = true
		return index.PutRepoState(b, m.DID, st)
	}
	return index.PutRepoState(b, m.DID, got)
}

// checkSignature verifies a commit's signature with the account's current
// signing key. A transient resolution failure wraps consumer.ErrRetry.
func (x *indexer) checkSignature(ctx context.Context, cm *repo.Commit) error {
	id, err := x.keys.Resolve(ctx, cm.DID)
	if errors.Is(err, identity.ErrResolutionFailed) {
		return fmt.Errorf("resolve %s: %w: %w", cm.DID, consumer.ErrRetry, err)
	}
	if err != nil {
		return fmt.Errorf("resolve %s: %w", cm.DID, err)
	}
	pub, err := id.PublicKey()
	if err != nil {
		return err
	}
	return cm.VerifySignature(pub)
}

func (x *indexer) dropped(r DropReason, c *firehose.Commit, err error) error {
	x.metrics.drop(r)
	x.log.Debug("commit dropped", "did", c.Repo, "seq", c.Seq, "reason", string(r), "err", err)
	return nil
}
