package index

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/lexicon"
)

// effects adds (delta +1) or removes (delta -1) every derived key and count
// of the record rec stored at uri.
func (ix *Index) effects(b *pebble.Batch, uri string, rec any, delta int64) error {
	did, _, rkey, ok := splitURI(uri)
	if !ok {
		return nil
	}
	var e edits
	switch r := rec.(type) {
	case *lexicon.FeedPost:
		e.edge(key(pFeed, did, rkey, lexicon.NSIDFeedPost))
		e.count(did, CountPosts)
		if r.Reply != nil {
			e.edge(key(pReply, r.Reply.Parent.URI, uri))
			e.count(r.Reply.Parent.URI, CountReplies)
		}
		if q := QuotedURI(r); q != "" {
			e.edge(key(pQuote, q, uri))
			e.count(q, CountQuotes)
		}
	case *lexicon.FeedLike:
		e.edge(key(pLike, r.Subject.URI, uri))
		e.count(r.Subject.URI, CountLikes)
	case *lexicon.FeedRepost:
		e.edge(key(pFeed, did, rkey, lexicon.NSIDFeedRepost))
		e.edge(key(pRepost, r.Subject.URI, uri))
		e.count(r.Subject.URI, CountReposts)
	case *lexicon.GraphFollow:
		e.edge(key(pFollower, r.Subject, uri))
		e.edgeValue(key(pFollowing, did, rkey), r.Subject)
		e.count(r.Subject, CountFollowers)
		e.count(did, CountFollows)
	}
	return e.apply(b, delta)
}

// QuotedURI returns the URI a post quotes (embed record or recordWithMedia),
// or "".
func QuotedURI(p *lexicon.FeedPost) string {
	if p.Embed == nil {
		return ""
	}
	switch {
	case p.Embed.Record != nil:
		return p.Embed.Record.Record.URI
	case p.Embed.RecordWithMedia != nil:
		return p.Embed.RecordWithMedia.Record.Record.URI
	}
	return ""
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
