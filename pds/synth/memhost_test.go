package synth

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/conflux-atproto/conflux/lexicon"
	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/crypto"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/mst"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// memHost is a small but real repository host held in memory: every write
// is checked against the lexicon, encoded as DAG-CBOR, put into the user's
// MST and committed with a signed v3 commit; blob refs must name uploaded
// blobs with the right type and size. The driver tests run against it so
// that what the driver generates is checked the way a PDS checks it.
type memHost struct {
	cat *lexicon.Catalog
	// failCreate, when set, makes a create fail before it is applied, as a
	// host under load might; the test picks which by record content so the
	// choice is deterministic.
	failCreate func(w Write) bool
	// afterApply, when set, runs after each successful ApplyWrites.
	afterApply func()

	mu      sync.Mutex
	handles map[string]string // handle -> DID
	repos   map[string]*memRepo
	blobs   map[cid.CID]Blob
}

type memRepo struct {
	mu      sync.Mutex
	did     string
	key     crypto.PrivateKey
	clock   *syntax.Clock
	blocks  mst.MemBlocks
	tree    *mst.Tree
	data    cid.CID // MST root of the last commit
	commit  cid.CID
	records map[string]map[string]any // path -> record
	commits int
}

var errExists = errors.New("memhost: record already exists")

func newMemHost() *memHost {
	return &memHost{
		cat:     lexicon.Default(),
		handles: map[string]string{},
		repos:   map[string]*memRepo{},
		blobs:   map[cid.CID]Blob{},
	}
}

// plcLike makes a did:plc-shaped DID from the handle, so DIDs (and the
// records naming them) are the same in every run.
func plcLike(handle string) string {
	sum := sha256.Sum256([]byte(handle))
	return "did:plc:" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:15]))
}

func (h *memHost) CreateAccount(_ context.Context, handle, _ string) (string, error) {
	hd, err := syntax.ParseHandle(handle)
	if err != nil || !hd.AllowedTLD() {
		return "", fmt.Errorf("memhost: bad handle %q", handle)
	}
	key, err := crypto.GenerateK256()
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	handle = strings.ToLower(handle)
	if _, ok := h.handles[handle]; ok {
		return "", fmt.Errorf("memhost: handle %s taken", handle)
	}
	did := plcLike(handle)
	h.handles[handle] = did
	blocks := mst.MemBlocks{}
	h.repos[did] = &memRepo{
		did: did, key: key, clock: syntax.NewClock(0), blocks: blocks,
		tree: mst.New(), data: mst.EmptyRoot, records: map[string]map[string]any{},
	}
	return did, nil
}

func (h *memHost) repo(did string) (*memRepo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.repos[did]
	if !ok {
		return nil, fmt.Errorf("memhost: no repo %s", did)
	}
	return r, nil
}

func (h *memHost) UploadBlob(_ context.Context, did, mime string, data []byte) (Blob, error) {
	if _, err := h.repo(did); err != nil {
		return Blob{}, err
	}
	if !strings.HasPrefix(mime, "image/") || len(data) == 0 {
		return Blob{}, fmt.Errorf("memhost: refusing %s blob of %d bytes", mime, len(data))
	}
	b := Blob{CID: cid.Sum(cid.Raw, data), MimeType: mime, Size: int64(len(data))}
	h.mu.Lock()
	h.blobs[b.CID] = b
	h.mu.Unlock()
	return b, nil
}

func (h *memHost) ApplyWrites(_ context.Context, did string, writes []Write) ([]Result, error) {
	r, err := h.repo(did)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	results := make([]Result, len(writes))
	for i, w := range writes {
		if w.Action == repo.Create && h.failCreate != nil && h.failCreate(w) {
			return nil, errors.New("memhost: injected failure")
		}
		if results[i], err = h.apply(r, w); err != nil {
			return nil, err
		}
	}
	if err := r.commitLocked(); err != nil {
		return nil, err
	}
	if h.afterApply != nil {
		h.afterApply()
	}
	return results, nil
}

// apply checks and applies one write to the tree. A failed write in the
// middle of a batch would leave earlier ones applied; the driver sends one
// write per call, so the tests never see that.
func (h *memHost) apply(r *memRepo, w Write) (Result, error) {
	if err := h.cat.ValidateRecordKey(w.Collection, w.RKey); err != nil {
		return Result{}, err
	}
	path := w.Collection + "/" + w.RKey
	_, exists := r.records[path]
	switch w.Action {
	case repo.Delete:
		if !exists {
			return Result{}, fmt.Errorf("memhost: delete %s: %w", path, ErrNotFound)
		}
		if _, err := r.tree.Delete(path); err != nil {
			return Result{}, err
		}
		delete(r.records, path)
		return Result{}, nil
	case repo.Create:
		if exists {
			return Result{}, fmt.Errorf("memhost: create %s: %w", path, errExists)
		}
	case repo.Update:
		if !exists {
			return Result{}, fmt.Errorf("memhost: update %s: %w", path, ErrNotFound)
		}
	default:
		return Result{}, fmt.Errorf("memhost: action %q", w.Action)
	}
	if err := h.cat.ValidateRecord(w.Collection, w.Value); err != nil {
		return Result{}, err
	}
	if err := h.checkBlobs(w.Value); err != nil {
		return Result{}, fmt.Errorf("memhost: %s: %w", path, err)
	}
	b, err := dagcbor.Marshal(w.Value)
	if err != nil {
		return Result{}, err
	}
	c := cid.Sum(cid.DagCBOR, b)
	r.blocks[c] = b
	if _, err := r.tree.Put(path, c); err != nil {
		return Result{}, err
	}
	r.records[path] = w.Value
	return Result{URI: "at://" + r.did + "/" + path, CID: c}, nil
}

// checkBlobs requires every blob ref in v to name an uploaded blob with the
// same type and size, as a PDS does before it accepts a record.
func (h *memHost) checkBlobs(v any) error {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if err := h.checkBlobs(e); err != nil {
				return err
			}
		}
	case map[string]any:
		if t["$type"] == "blob" {
			ref, _ := t["ref"].(cid.CID)
			h.mu.Lock()
			b, ok := h.blobs[ref]
			h.mu.Unlock()
			if !ok || b.MimeType != t["mimeType"] || b.Size != t["size"] {
				return fmt.Errorf("blob %s not uploaded as %v/%v", ref, t["mimeType"], t["size"])
			}
			return nil
		}
		for _, e := range t {
			if err := h.checkBlobs(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// commitLocked writes the tree's blocks and a signed commit over its root.
func (r *memRepo) commitLocked() error {
	root, err := r.tree.Root()
	if err != nil {
		return err
	}
	if err := r.tree.WriteBlocks(r.blocks.Put); err != nil {
		return err
	}
	c := repo.Commit{DID: r.did, Version: repo.Version, Data: root, Rev: string(r.clock.Next())}
	if err := c.Sign(r.key); err != nil {
		return err
	}
	cc, b, err := c.Block()
	if err != nil {
		return err
	}
	r.blocks[cc] = b
	r.data, r.commit = root, cc
	r.commits++
	return nil
}

// snapshot returns each repo's MST root by handle, and checks along the way
// that the last commit parses, is signed by the repo's key and points at the
// tree, and that every record in the tree is the stored one.
func (h *memHost) snapshot() (map[string]cid.CID, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]cid.CID, len(h.handles))
	for handle, did := range h.handles {
		r := h.repos[did]
		r.mu.Lock()
		err := r.checkLocked()
		r.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", handle, err)
		}
		out[handle] = r.data
	}
	return out, nil
}

func (r *memRepo) checkLocked() error {
	if r.commits == 0 {
		return nil
	}
	c, err := repo.ParseCommit(r.blocks[r.commit])
	if err != nil {
		return err
	}
	if err := c.VerifySignature(r.key.Public()); err != nil {
		return err
	}
	if c.Data != r.data {
		return fmt.Errorf("commit data %s, tree %s", c.Data, r.data)
	}
	n := 0
	err = mst.Load(r.blocks, r.data).Walk(func(key string, val cid.CID) error {
		n++
		rec, ok := r.records[key]
		if !ok {
			return fmt.Errorf("tree has %s, records do not", key)
		}
		b, err := dagcbor.Marshal(rec)
		if err != nil || !val.Matches(b) {
			return fmt.Errorf("record %s does not match its CID", key)
		}
		return nil
	})
	if err == nil && n != len(r.records) {
		err = fmt.Errorf("tree has %d records, map %d", n, len(r.records))
	}
	return err
}

// records returns a copy of the paths in did's repo with their values.
func (h *memHost) records(did string) map[string]map[string]any {
	r, err := h.repo(did)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]map[string]any, len(r.records))
	for k, v := range r.records {
		out[k] = v
	}
	return out
}
