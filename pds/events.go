package pds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/eventlog"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// event is a message this host emits: every firehose message type it uses
// has a Frame method (eventlog.Entry).
type event interface {
	firehose.Message
	eventlog.Entry
}

// publish makes one write durable and announces it. b already holds the
// write's changes to the store; publish adds the pending record of evs (their
// frames, encoded with seq 0) to it, commits it, appends evs to the event log
// in one batch (consecutive seqs), and then clears the pending record.
//
// The repo store and the event log are two Pebble DBs, so a crash can fall
// between the two commits. The pending record closes that gap: it is durable
// with the write, and Run's recovery appends the events of any pending record
// whose events are not in the log (see recoverPending). So an acknowledged
// write is always announced, exactly once in the log, with the very #commit
// (diff and proof) it would have had. The clearing delete needs no fsync: if
// it is lost, recovery finds the events in the log and just clears it again.
//
// The caller holds the repo's lock, so at most one pending record per DID
// exists, and the log's head when it was written bounds where its events can
// be.
func (p *PDS) publish(ctx context.Context, did string, b *pebble.Batch, evs []event) ([]eventlog.Event, error) {
	now := p.cfg.Now().UTC()
	stamp := firehose.FormatTime(now)
	rec := pendingRec{LogHead: p.events.Head(), At: time.Now().UnixNano(), Frames: make([][]byte, len(evs))}
	entries := make([]eventlog.Entry, len(evs))
	for i, ev := range evs {
		setTime(ev, stamp)
		f, err := ev.Frame(0, now)
		if errors.Is(err, firehose.ErrBlocksTooBig) || errors.Is(err, firehose.ErrFrameTooBig) {
			return nil, fmt.Errorf("%w: the commit is too large for the firehose: %w", ErrInvalidRequest, err)
		}
		if err != nil {
			return nil, fmt.Errorf("encode event: %w", err)
		}
		rec.Frames[i] = f
		entries[i] = ev
	}
	if err := setCBOR(b, pendingKey(did), &rec); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := b.Commit(p.wopts); err != nil {
		return nil, fmt.Errorf("commit repo batch: %w", err)
	}
	p.metrics.observeStoreCommit(time.Since(start))
	if err := p.crash("stored"); err != nil {
		return nil, err
	}
	// The write is durable: its events must go out even if the caller has
	// given up waiting.
	out, err := p.events.AppendBatch(context.WithoutCancel(ctx), entries)
	if err != nil {
		return nil, fmt.Errorf("append events (the write is stored and will be announced at restart): %w", err)
	}
	if err := p.crash("appended"); err != nil {
		return nil, err
	}
	if err := p.db.Delete(pendingKey(did), pebble.NoSync); err != nil {
		return nil, fmt.Errorf("clear pending events: %w", err)
	}
	return out, nil
}

func (p *PDS) crash(stage string) error {
	if p.crashHook == nil {
		return nil
	}
	return p.crashHook(stage)
}

func setTime(ev event, stamp string) {
	switch m := ev.(type) {
	case *firehose.Commit:
		m.Time = stamp
	case *firehose.Sync:
		m.Time = stamp
	case *firehose.Identity:
		m.Time = stamp
	case *firehose.Account:
		m.Time = stamp
	}
}

// recoverPending appends the events of writes that were stored but not
// announced before the last stop (see publish). It runs in Run before writes
// are admitted, with the event log running.
func (p *PDS) recoverPending(ctx context.Context) error {
	pending := map[string]*pendingRec{}
	order := map[string]int64{}
	from := int64(-1)
	it, err := p.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixPending},
		UpperBound: []byte{prefixPending + 1},
	})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		rec := new(pendingRec)
		if err := dagcbor.Unmarshal(it.Value(), rec); err != nil {
			return errors.Join(fmt.Errorf("%w: pending record %q: %w", ErrCorrupt, it.Key(), err), it.Close())
		}
		pending[string(it.Key()[1:])] = rec
		order[string(it.Key()[1:])] = rec.At
		if from < 0 || rec.LogHead < from {
			from = rec.LogHead
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	if err := p.dropAnnounced(pending, from); err != nil {
		return err
	}
	// Announce in the order the writes were stored, so recovery is
	// deterministic (the order between accounts carries no meaning).
	dids := slices.SortedFunc(maps.Keys(pending), func(a, b string) int {
		return cmp.Or(cmp.Compare(order[a], order[b]), strings.Compare(a, b))
	})
	b := p.db.NewBatch()
	defer b.Close()
	for _, did := range dids {
		if rec := pending[did]; rec != nil {
			entries := make([]eventlog.Entry, 0, len(rec.Frames))
			for _, f := range rec.Frames {
				fr, err := firehose.DecodeFrame(f)
				if err != nil {
					return fmt.Errorf("%w: pending frame of %s: %w", ErrCorrupt, did, err)
				}
				e, ok := fr.Msg.(event)
				if !ok {
					return fmt.Errorf("%w: pending frame of %s is %s", ErrCorrupt, did, fr.Type)
				}
				entries = append(entries, e)
			}
			evs, err := p.events.AppendBatch(ctx, entries)
			if err != nil {
				return fmt.Errorf("append recovered events of %s: %w", did, err)
			}
			p.log.Warn("announced a write stored before the last stop", "did", did, "seq", evs[0].Seq)
			p.metrics.recovered.Add(float64(len(evs)))
		}
		if err := b.Delete(pendingKey(did), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// dropAnnounced scans the log after seq from and sets to nil every pending
// record whose DID has an event after the record's LogHead: those events are
// the record's own (the repo lock kept any later write of the DID from
// starting), so they were announced.
func (p *PDS) dropAnnounced(pending map[string]*pendingRec, from int64) error {
	if oldest := p.events.Oldest(); from < oldest-1 {
		// Events after from were trimmed: a record older than the window
		// is announced again, which a consumer drops as a stale rev.
		from = oldest - 1
	}
	var buf []eventlog.Event
	for cursor := from; cursor < p.events.Head(); {
		evs, err := p.events.ReadFrom(cursor, buf[:0], 512)
		if err != nil {
			return fmt.Errorf("scan event log: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			fr, err := firehose.DecodeFrame(ev.Frame)
			if err != nil {
				return fmt.Errorf("%w: event %d: %w", eventlog.ErrCorrupt, ev.Seq, err)
			}
			did := fr.DID()
			if rec := pending[did]; rec != nil && ev.Seq > rec.LogHead {
				pending[did] = nil
			}
			cursor = ev.Seq
		}
		buf = evs
	}
	return nil
}
