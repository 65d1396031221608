package index

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// FuzzApplyCommit feeds arbitrary record bytes and paths (outside bytes
// from a firehose commit) to the index: it must never panic or fail, and
// applying the same op again must leave the index byte-identical.
func FuzzApplyCommit(f *testing.F) {
	seed := func(path string, rec map[string]any) {
		data, err := dagcbor.Marshal(rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(path, data, uint8(0))
	}
	ref := map[string]any{"uri": "at://did:plc:x/app.bsky.feed.post/3k", "cid": cid.Sum(cid.DagCBOR, []byte("x")).String()}
	seed("app.bsky.feed.post/3k", post("hello"))
	seed("app.bsky.feed.post/3l", map[string]any{"$type": lexicon.NSIDFeedPost, "text": "r", "createdAt": ts,
		"reply": map[string]any{"root": ref, "parent": ref}})
	seed("app.bsky.feed.post/3m", map[string]any{"$type": lexicon.NSIDFeedPost, "text": "q", "createdAt": ts,
		"embed": map[string]any{"$type": lexicon.NSIDEmbedRecord, "record": ref}})
	seed("app.bsky.feed.like/3n", map[string]any{"$type": lexicon.NSIDFeedLike, "subject": ref, "createdAt": ts})
	seed("app.bsky.feed.repost/3o", map[string]any{"$type": lexicon.NSIDFeedRepost, "subject": ref, "createdAt": ts})
	seed("app.bsky.graph.follow/3p", map[string]any{"$type": lexicon.NSIDGraphFollow, "subject": "did:plc:y", "createdAt": ts})
	seed("app.bsky.actor.profile/self", map[string]any{"$type": lexicon.NSIDActorProfile, "displayName": "x"})
	f.Add("app.bsky.feed.post/a", []byte{0xa1, 0x60, 0xff}, uint8(1))
	f.Add("app.bsky.feed.like/\x00", []byte{}, uint8(2))
	f.Add("/", []byte{0xf6}, uint8(1))
	f.Fuzz(func(t *testing.T, path string, data []byte, action uint8) {
		ix := openMem(t)
		did := "did:plc:fuzz"
		op := Op{Action: []Action{Create, Update, Delete, "bogus"}[action%4], Path: path, CID: cid.Sum(cid.DagCBOR, data), Record: data}
		apply(t, ix, did, op)
		once := dump(t, ix.DB())
		apply(t, ix, did, op)
		if !bytes.Equal(once, dump(t, ix.DB())) {
			t.Fatal("applying the op twice changed the index")
		}
		apply(t, ix, did, Op{Action: Delete, Path: path})
		if d := dump(t, ix.DB()); len(d) != 0 {
			t.Fatalf("delete left keys behind:\n%s", d)
		}
	})
}

// FuzzStoredRecord: the stored-record decoder never panics on any value
// (a corrupt store must fail with ErrCorrupt), and what it accepts
// re-encodes to the same bytes.
func FuzzStoredRecord(f *testing.F) {
	desc, name := "about", ""
	for _, r := range []*Record{
		{CreatedAt: ts, Reply: &Reply{Root: "at://did:plc:a/app.bsky.feed.post/1", Parent: "at://did:plc:a/app.bsky.feed.post/2"},
			Quote: "at://did:plc:b/app.bsky.feed.post/3", Media: true, JSON: []byte(`{"text":"x"}`)},
		{CreatedAt: ts, Subject: "at://did:plc:a/app.bsky.feed.post/1"},
		{DisplayName: &name, Description: &desc},
		{},
	} {
		f.Add(encodeRecord(cid.Sum(cid.DagCBOR, []byte("x")), r))
	}
	f.Add([]byte{})
	f.Add([]byte{36})
	f.Add([]byte{0, storedVersion, 0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := decodeRecord("at://did:plc:x/app.bsky.feed.post/1", v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		again := encodeRecord(r.CID, r)
		r2, err := decodeRecord(r.URI, again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, r2)
		}
	})
}
