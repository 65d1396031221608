package index

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/cid"
)

// SkipReason says why a record op was not indexed; it doubles as a metric
// label.
type SkipReason string

const (
	SkipUnknownCollection SkipReason = "unknown_collection"
	SkipInvalidRecord     SkipReason = "invalid_record"
	SkipMissingBlock      SkipReason = "missing_block"
	SkipBadPath           SkipReason = "bad_path"
	SkipBadAction         SkipReason = "bad_action"
)

// ErrCorrupt reports index state we wrote ourselves that does not parse.
var ErrCorrupt = errors.New("index: corrupt value")

// Action of an Op.
type Action string

const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Op is one record operation of a commit. Record holds the DAG-CBOR block
// for creates and updates (nil if the commit did not carry it). Prepared,
// if set, says the block was already run through Prepare (Stored is its
// result, or Skip why it is skipped), so applying does not decode it again.
type Op struct {
	Action   Action
	Path     string // collection/rkey
	CID      cid.CID
	Record   []byte
	Prepared bool
	Stored   *Record
	Skip     SkipReason
}

// Indexed collections.
var indexed = map[string]bool{
	lexicon.NSIDFeedPost:     true,
	lexicon.NSIDFeedLike:     true,
	lexicon.NSIDFeedRepost:   true,
	lexicon.NSIDGraphFollow:  true,
	lexicon.NSIDActorProfile: true,
}

// Index reads and writes the AppView index in db.
type Index struct {
	db *pebble.DB

	mu struct {
		sync.Mutex
		skipped map[SkipReason]int64
	}
	// OnSkip, if set, is called for every skipped op (for metrics).
	OnSkip func(SkipReason)
}

// New returns an Index over db. It starts nothing.
func New(db *pebble.DB) *Index {
	ix := &Index{db: db}
	ix.mu.skipped = map[SkipReason]int64{}
	return ix
}

// DB returns the underlying store.
func (ix *Index) DB() *pebble.DB { return ix.db }

// Skipped returns the number of ops skipped so far, by reason.
func (ix *Index) Skipped() map[SkipReason]int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := make(map[SkipReason]int64, len(ix.mu.skipped))
	for k, v := range ix.mu.skipped {
		out[k] = v
	}
	return out
}

func (ix *Index) skip(r SkipReason) {
	ix.mu.Lock()
	ix.mu.skipped[r]++
	ix.mu.Unlock()
	if ix.OnSkip != nil {
		ix.OnSkip(r)
	}
}

// ApplyCommit applies one commit's ops of repository did into b, which
// must be an indexed batch of ix's DB. Only Pebble errors are returned; bad
// ops are skipped and counted. The author's visibility is read once: it
// decides whether the ops' effects count (see effects).
func (ix *Index) ApplyCommit(b *pebble.Batch, did string, ops []Op) error {
	author, err := GetActor(b, did)
	if err != nil {
		return err
	}
	return ix.ApplyCommitBy(b, author, ops)
}

// ApplyCommitBy is ApplyCommit for a caller that has already read the
// author's state through b.
func (ix *Index) ApplyCommitBy(b *pebble.Batch, author Actor, ops []Op) error {
	for _, op := range ops {
		if err := ix.applyOp(b, author, op); err != nil {
			return err
		}
	}
	return nil
}

func (ix *Index) applyOp(b *pebble.Batch, author Actor, op Op) error {
	coll, rkey, ok := strings.Cut(op.Path, "/")
	if !ok || coll == "" || rkey == "" || strings.Contains(rkey, "/") || strings.IndexByte(op.Path, 0) >= 0 {
		ix.skip(SkipBadPath)
		return nil
	}
	if !indexed[coll] {
		ix.skip(SkipUnknownCollection)
		return nil
	}
	uri := "at://" + author.DID + "/" + op.Path
	switch op.Action {
	case Delete:
		return ix.removeRecord(b, author, uri)
	case Create, Update:
	default:
		ix.skip(SkipBadAction)
		return nil
	}
	old, found, err := getRecord(b, uri)
	if err != nil {
		return err
	}
	if found && old.CID == op.CID {
		return nil // redelivery: nothing changes
	}
	rec, reason := op.Stored, op.Skip
	if !op.Prepared {
		rec, reason = Prepare(coll, op.Record)
	}
	if found {
		if err := ix.effects(b, author, old, -1); err != nil {
			return err
		}
		if err := b.Delete(key(pRecord, uri), nil); err != nil {
			return fmt.Errorf("delete record %s: %w", uri, err)
		}
	}
	if reason != "" || rec == nil {
		ix.skip(cmp.Or(reason, SkipInvalidRecord))
		return nil
	}
	stored := *rec
	stored.URI, stored.CID = uri, op.CID
	if err := b.Set(key(pRecord, uri), encodeRecord(op.CID, &stored), nil); err != nil {
		return fmt.Errorf("store record %s: %w", uri, err)
	}
	return ix.effects(b, author, &stored, +1)
}

func (ix *Index) removeRecord(b *pebble.Batch, author Actor, uri string) error {
	old, found, err := getRecord(b, uri)
	if err != nil || !found {
		return err
	}
	if err := ix.effects(b, author, old, -1); err != nil {
		return err
	}
	if err := b.Delete(key(pRecord, uri), nil); err != nil {
		return fmt.Errorf("delete record %s: %w", uri, err)
	}
	return nil
}

// getRecord reads the stored record at uri through r.
func getRecord(r pebble.Reader, uri string) (*Record, bool, error) {
	v, ok, err := get(r, key(pRecord, uri))
	if err != nil || !ok {
		return nil, false, err
	}
	rec, err := decodeRecord(uri, v)
	if err != nil {
		return nil, false, err
	}
	return rec, true, nil
}

// get reads one key through r, copying the value. Get on an indexed
// batch reads through the batch to the DB under it (TestBatchGetReadsThrough
// pins that), and a point lookup is far cheaper than an iterator.
func get(r pebble.Reader, k []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("index get: %w", err)
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// collectionOf returns the collection of an at://did/coll/rkey URI.
func collectionOf(uri string) string {
	rest := strings.TrimPrefix(uri, "at://")
	_, rest, _ = strings.Cut(rest, "/")
	coll, _, _ := strings.Cut(rest, "/")
	return coll
}

// splitURI returns did, collection and rkey of an at:// URI.
func splitURI(uri string) (did, coll, rkey string, ok bool) {
	rest, ok := strings.CutPrefix(uri, "at://")
	if !ok {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}
