package feedgen

import (
	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/feedgen/internal/index"
	"github.com/conflux-atproto/conflux/feedgen/plugin"
	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/car"
)

// countsInteractions reports whether f needs likes and reposts: it has the
// hook, it is ranked by score, or it filters on like counts the generator
// keeps.
func countsInteractions(f plugin.Feed) bool {
	if _, ok := f.(plugin.Interactor); ok {
		return true
	}
	if plugin.RankingOf(f) == plugin.RankScore {
		return true
	}
	m, ok := f.(plugin.MinLiker)
	return ok && m.MinLikes() > 0
}

// handleInteraction passes a like or repost create or delete to the feeds
// that implement plugin.Interactor. Delivery is at-least-once: after a
// crash, events past the last committed batch are seen again, so counters
// kept only in memory may count a replayed like twice (the stored subject
// map itself stays exact).
func (g *Generator) handleInteraction(m *firehose.Commit, op firehose.RepoOp, coll, uri string,
	blocks func() (car.Blocks, bool), b *pebble.Batch, feeds []plugin.Feed) error {
	kind := plugin.Like
	if coll == lexicon.NSIDFeedRepost {
		kind = plugin.Repost
	}
	var subject string
	if op.Action != "delete" {
		bl, ok := blocks()
		if !ok {
			return nil
		}
		data, found, err := bl.GetBlock(op.CID)
		if err != nil || !found {
			g.drop(DropNoBlock, m, err)
			return nil
		}
		rec, err := lexicon.DecodeRecord(coll, data)
		if err != nil {
			g.drop(DropBadRecord, m, err)
			return nil
		}
		switch r := rec.(type) {
		case *lexicon.FeedLike:
			subject = r.Subject.URI
		case *lexicon.FeedRepost:
			subject = r.Subject.URI
		}
	}
	for _, f := range feeds {
		if !countsInteractions(f) {
			continue
		}
		delta, subj := 1, subject
		if op.Action == "delete" {
			k, s, found, err := index.TakeInteraction(b, f.Name(), uri)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			delta, subj, kind = -1, s, plugin.InteractionKind(k)
		} else if err := index.PutInteraction(b, f.Name(), uri, byte(kind), subj); err != nil {
			return err
		}
		add := index.AddLikes
		if kind == plugin.Repost {
			add = index.AddReposts
		}
		if err := add(b, f.Name(), subj, int64(delta)); err != nil {
			return err
		}
		// A min-likes feed may gain or lose the post: its served head is
		// stale. (Ranked feeds pick counts up at their next ranking.)
		if m, ok := f.(plugin.MinLiker); ok && m.MinLikes() > 0 && kind == plugin.Like {
			if err := index.Touch(b, f.Name()); err != nil {
				return err
			}
		}
		if in, ok := f.(plugin.Interactor); ok {
			in.OnInteraction(plugin.Interaction{Kind: kind, Subject: subj, Actor: m.Repo, Delta: delta})
		}
	}
	return nil
}
