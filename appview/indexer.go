package appview

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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

// indexer turns firehose events into index writes; it is the durable
// consumer's handler.
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

// HandleEvent indexes one event into b. Outside bytes that fail a check
// drop the event (counted); only Pebble errors and a transient key
// resolution failure (retried) are returned.
func (x *indexer) HandleEvent(ctx context.Context, ev consumer.Event, b *pebble.Batch) error {
	switch m := ev.Frame.Msg.(type) {
	case *firehose.Commit:
		x.metrics.event("commit")
		return x.commit(ctx, m, b)
	case *firehose.Sync:
		x.metrics.event("sync")
		return x.syncEvent(ctx, m, b)
	case *firehose.Identity:
		x.metrics.event("identity")
		return x.ix.ApplyIdentity(b, m.DID, m.Handle)
	case *firehose.Account:
		x.metrics.event("account")
		return x.ix.ApplyAccount(b, m.DID, m.Active, m.Status)
	}
	return nil
}

func (x *indexer) commit(ctx context.Context, c *firehose.Commit, b *pebble.Batch) error {
	var blocks car.Blocks
	var data cid.CID
	if x.verify {
		checked, err := repo.CheckCommitProof(c.Evidence(), car.Limits{})
		if err != nil {
			return x.dropped(DropBadProof, c, err)
		}
		if err := x.checkSignature(ctx, checked.Commit); err != nil {
			if errors.Is(err, consumer.ErrRetry) {
				return err
			}
			return x.dropped(DropBadSignature, c, err)
		}
		blocks, data = checked.Blocks, checked.Commit.Data
	} else {
		_, bl, err := car.ReadBytes(c.Blocks, car.Limits{})
		if err != nil {
			return x.dropped(DropBadBlocks, c, err)
		}
		cm, err := repo.ParseCommit(bl[c.Commit])
		if err != nil {
			return x.dropped(DropBadBlocks, c, err)
		}
		blocks, data = bl, cm.Data
	}
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
	ops := make([]index.Op, len(c.Ops))
	for i, op := range c.Ops {
		ops[i] = index.Op{Action: index.Action(op.Action), Path: op.Path, CID: op.CID}
		if op.CID.Defined() {
			ops[i].Record = blocks[op.CID]
		}
	}
	if err := x.ix.ApplyCommit(b, c.Repo, ops); err != nil {
		return err
	}
	return index.PutRepoState(b, c.Repo, index.RepoState{Rev: c.Rev, Data: data, Desynced: st.Desynced})
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
