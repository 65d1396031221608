package index

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/lexicon"
)

// effects adds (delta +1) or removes (delta -1) every derived key and
// count of the record rec, whose author is author. Edges (lists) always
// follow the records; counts follow only the records of visible authors,
// so that a count equals what the lists show once hidden authors are
// filtered out (see counts).
func (ix *Index) effects(b *pebble.Batch, author Actor, rec *Record, delta int64) error {
	did, coll, rkey, ok := splitURI(rec.URI)
	if !ok {
		return nil
	}
	var e edits
	switch coll {
	case lexicon.NSIDFeedPost:
		e.edge(key(pFeed, did, rkey, lexicon.NSIDFeedPost))
		if rec.Reply != nil {
			e.edge(key(pReply, rec.Reply.Parent, rec.URI))
		}
		if rec.Quote != "" {
			e.edge(key(pQuote, rec.Quote, rec.URI))
		}
	case lexicon.NSIDFeedLike:
		e.edge(key(pLike, rec.Subject, rec.URI))
	case lexicon.NSIDFeedRepost:
		e.edge(key(pFeed, did, rkey, lexicon.NSIDFeedRepost))
		e.edge(key(pRepost, rec.Subject, rec.URI))
	case lexicon.NSIDGraphFollow:
		e.edge(key(pFollower, rec.Subject, rec.URI))
		e.edgeValue(key(pFollowing, did, rkey), rec.Subject)
	}
	if err := e.apply(b, delta); err != nil {
		return err
	}
	if author.Hidden() {
		return nil
	}
	return ix.counts(b, did, coll, rec, delta)
}

// counts adds or removes the count contributions of a record by a visible
// author did. A follow counts toward its author's follows only while its
// subject is visible too (getFollows does not list hidden accounts); a
// self-follow counts with its author.
func (ix *Index) counts(b *pebble.Batch, did, coll string, rec *Record, delta int64) error {
	var e edits
	switch coll {
	case lexicon.NSIDFeedPost:
		e.count(did, CountPosts)
		if rec.Reply != nil {
			e.count(rec.Reply.Parent, CountReplies)
		}
		e.count(rec.Quote, CountQuotes)
	case lexicon.NSIDFeedLike:
		e.count(rec.Subject, CountLikes)
	case lexicon.NSIDFeedRepost:
		e.count(rec.Subject, CountReposts)
	case lexicon.NSIDGraphFollow:
		e.count(rec.Subject, CountFollowers)
		visible := rec.Subject == did
		if !visible {
			s, err := GetActor(b, rec.Subject)
			if err != nil {
				return err
			}
			visible = !s.Hidden()
		}
		if visible {
			e.count(did, CountFollows)
		}
	}
	return e.apply(b, delta)
}

type edge struct {
	k, v []byte
}

type countEdit struct {
	subject string
	kind    CountKind
}

// edits collects a record's derived keys before writing them, so that a
// subject holding a 0x00 byte (which would break the key layout) drops the
// edge instead of corrupting a neighbour.
type edits struct {
	edges  []edge
	counts []countEdit
}

func (e *edits) edge(k []byte)                { e.edges = append(e.edges, edge{k: k}) }
func (e *edits) edgeValue(k []byte, v string) { e.edges = append(e.edges, edge{k: k, v: []byte(v)}) }
func (e *edits) count(subject string, kind CountKind) {
	if subject == "" || strings.IndexByte(subject, 0) >= 0 {
		return
	}
	e.counts = append(e.counts, countEdit{subject, kind})
}

func (e *edits) apply(b *pebble.Batch, delta int64) error {
	for _, ed := range e.edges {
		var err error
		if delta > 0 {
			err = b.Set(ed.k, ed.v, nil)
		} else {
			err = b.Delete(ed.k, nil)
		}
		if err != nil {
			return fmt.Errorf("index edge: %w", err)
		}
	}
	for _, c := range e.counts {
		if err := addCount(b, countKey(c.subject, c.kind), delta); err != nil {
			return err
		}
	}
	return nil
}

// addCount adjusts a count; a count of zero is stored as no key, so that an
// index is byte-identical however it reached its state.
func addCount(b *pebble.Batch, k []byte, delta int64) error {
	v, _, err := get(b, k)
	if err != nil {
		return err
	}
	n := decodeInt(v) + delta
	if n <= 0 {
		err = b.Delete(k, nil)
	} else {
		err = b.Set(k, encodeInt(n), nil)
	}
	if err != nil {
		return fmt.Errorf("index count: %w", err)
	}
	return nil
}
