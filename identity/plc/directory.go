package plc

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/conflux-atproto/conflux/repo/cid"
)

// Errors of the directory.
var (
	// ErrNotFound: the DID has no operations.
	ErrNotFound = errors.New("DID not registered")
	// ErrClosed: the directory was closed.
	ErrClosed = errors.New("PLC directory closed")
	// errCorrupt: a stored record cannot be decoded. It is our own
	// corruption, never the client's fault.
	errCorrupt = errors.New("PLC directory store corrupt")
)

// lockStripes bounds the per-DID write locks: DIDs hash onto a fixed set of
// mutexes, so memory does not grow with the number of DIDs and two DIDs
// rarely wait for each other.
const lockStripes = 64

// DirectoryConfig configures a Directory. Exactly one of DB and Dir is set.
type DirectoryConfig struct {
	// DB is an open Pebble database to store operations in. The caller
	// owns it and closes it after Directory.Close.
	DB *pebble.DB
	// Dir is a directory to open (or create) a Pebble database in; the
	// Directory owns that database and closes it on Close.
	Dir string
	// Logger receives the directory's lines; slog.Default() if nil.
	Logger *slog.Logger
	// NoSync skips the fsync after each accepted operation, for tests and
	// benchmarks. A crash may then lose the last operations.
	NoSync bool
	// Now stamps createdAt; time.Now if nil.
	Now func() time.Time
}

// Directory is a development PLC directory: it validates and stores
// operations in Pebble and serves the PLC HTTP API (it is an http.Handler).
// It is safe for concurrent use.
type Directory struct {
	db     *pebble.DB
	ownsDB bool
	log    *slog.Logger
	wopts  *pebble.WriteOptions
	now    func() time.Time
	mux    *http.ServeMux

	// Lock order: store (shared) before a didLocks stripe.
	didLocks [lockStripes]sync.Mutex

	// store keeps callers off a closed Pebble: they hold it shared.
	store struct {
		sync.RWMutex
		closed bool
	}
}

// storedOp is one operation of a DID's log.
type storedOp struct {
	op        *Op
	cid       cid.CID
	createdAt time.Time
	index     uint64
}

// NewDirectory opens the directory's store. It starts nothing.
func NewDirectory(cfg DirectoryConfig) (*Directory, error) {
	if (cfg.DB == nil) == (cfg.Dir == "") {
		return nil, errors.New("PLC directory: set exactly one of DB and Dir")
	}
	d := &Directory{
		db:    cfg.DB,
		log:   cfg.Logger,
		wopts: pebble.Sync,
		now:   cfg.Now,
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("component", "plc-dev-directory")
	if cfg.NoSync {
		d.wopts = pebble.NoSync
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.db == nil {
		db, err := pebble.Open(cfg.Dir, &pebble.Options{
			Logger:             pebbleLogger{d.log},
			FormatMajorVersion: pebble.FormatNewest,
		})
		if err != nil {
			return nil, fmt.Errorf("open PLC directory %s: %w", cfg.Dir, err)
		}
		d.db, d.ownsDB = db, true
	}
	d.mux = d.routes()
	d.log.Warn("DEVELOPMENT PLC directory: for local testing only, not a replacement for plc.directory")
	return d, nil
}

// Close stops serving and closes the database if the directory opened it.
// It is idempotent.
func (d *Directory) Close() error {
	d.store.Lock()
	defer d.store.Unlock()
	if d.store.closed {
		return nil
	}
	d.store.closed = true
	if d.ownsDB {
		if err := d.db.Close(); err != nil {
			return fmt.Errorf("close PLC directory: %w", err)
		}
	}
	return nil
}

// acquire holds the store open until release is called.
func (d *Directory) acquire() (release func(), err error) {
	d.store.RLock()
	if d.store.closed {
		d.store.RUnlock()
		return nil, ErrClosed
	}
	return d.store.RUnlock, nil
}

func (d *Directory) lockFor(did string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(did))
	return &d.didLocks[h.Sum32()%lockStripes]
}

// Submit validates op for did and appends it to the DID's log. A genesis
// must hash to did and be signed by one of its own rotation keys; any
// other operation must name the head as prev and be signed by one of the
// head's rotation keys. Submitting the current head again succeeds and
// stores nothing. Rejections wrap ErrInvalidDID, ErrInvalidOp, ErrNotFound,
// ErrWrongPrev, ErrBadSignature or ErrDIDMismatch; other errors are the
// store's.
func (d *Directory) Submit(did string, op *Op) error {
	if err := CheckDID(did); err != nil {
		return err
	}
	rotation, signed, err := op.validate()
	if err != nil {
		return fmt.Errorf("%s: %w", did, err)
	}
	opCID := cid.Sum(cid.DagCBOR, signed)
	release, err := d.acquire()
	if err != nil {
		return err
	}
	defer release()
	mu := d.lockFor(did)
	mu.Lock()
	defer mu.Unlock()

	head, found, err := d.head(did)
	if err != nil {
		return err
	}
	var prev *Op
	var index uint64
	switch {
	case found && head.cid == opCID:
		return nil
	case found:
		prev, index = head.op, head.index+1
	case !op.IsGenesis():
		return fmt.Errorf("%s: %w", did, ErrNotFound)
	default:
		if got := didFromSignedBytes(signed); got != did {
			return fmt.Errorf("%w: it creates %s, not %s", ErrDIDMismatch, got, did)
		}
	}
	if err := verifyValidated(op, rotation, prev); err != nil {
		return fmt.Errorf("%s: %w", did, err)
	}
	if err := d.db.Set(opKey(did, index), encodeOpValue(d.now(), signed), d.wopts); err != nil {
		return fmt.Errorf("%s: store operation: %w", did, err)
	}
	d.log.Debug("PLC operation accepted", "did", did, "seq", index, "type", op.Type)
	return nil
}

// head returns the last operation of did's log.
func (d *Directory) head(did string) (storedOp, bool, error) {
	lower, upper := didBounds(did)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return storedOp{}, false, fmt.Errorf("%s: read head: %w", did, err)
	}
	defer it.Close()
	if !it.Last() {
		return storedOp{}, false, it.Error()
	}
	s, err := decodeEntry(it.Key(), it.Value())
	if err != nil {
		return storedOp{}, false, fmt.Errorf("%s: %w", did, err)
	}
	return s, true, nil
}

// readLog returns did's log, oldest first; empty if the DID is unknown.
func (d *Directory) readLog(did string) ([]storedOp, error) {
	if err := CheckDID(did); err != nil {
		return nil, err
	}
	release, err := d.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	lower, upper := didBounds(did)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("%s: read log: %w", did, err)
	}
	defer it.Close()
	var ops []storedOp
	for ok := it.First(); ok; ok = it.Next() {
		s, err := decodeEntry(it.Key(), it.Value())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", did, err)
		}
		if s.index != uint64(len(ops)) {
			return nil, fmt.Errorf("%s: %w: operation %d where %d was expected", did, errCorrupt, s.index, len(ops))
		}
		ops = append(ops, s)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("%s: read log: %w", did, err)
	}
	return ops, nil
}

// lastOp returns did's head or ErrNotFound.
func (d *Directory) lastOp(did string) (storedOp, error) {
	if err := CheckDID(did); err != nil {
		return storedOp{}, err
	}
	release, err := d.acquire()
	if err != nil {
		return storedOp{}, err
	}
	defer release()
	head, found, err := d.head(did)
	if err != nil {
		return storedOp{}, err
	}
	if !found {
		return storedOp{}, fmt.Errorf("%s: %w", did, ErrNotFound)
	}
	return head, nil
}

// decodeEntry decodes one stored operation. The key and value are copied
// out of Pebble's buffers by the decoding.
func decodeEntry(k, v []byte) (storedOp, error) {
	index, err := opKeyIndex(k)
	if err != nil {
		return storedOp{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	createdAt, b, err := decodeOpValue(v)
	if err != nil {
		return storedOp{}, fmt.Errorf("%w: operation %d: %w", errCorrupt, index, err)
	}
	op, err := decodeStored(b)
	if err != nil {
		return storedOp{}, fmt.Errorf("%w: operation %d: %w", errCorrupt, index, err)
	}
	return storedOp{op: op, cid: cid.Sum(cid.DagCBOR, b), createdAt: createdAt, index: index}, nil
}

// LastOp returns the head operation of did. The error wraps ErrNotFound
// for an unknown DID.
func (d *Directory) LastOp(did string) (*Op, error) {
	head, err := d.lastOp(did)
	if err != nil {
		return nil, err
	}
	return head.op, nil
}

// DataFor returns the current state of did. Errors wrap ErrNotFound or
// ErrTombstoned.
func (d *Directory) DataFor(did string) (*Data, error) {
	head, err := d.lastOp(did)
	if err != nil {
		return nil, err
	}
	return DataFromOp(did, head.op)
}

// DocumentFor returns the DID document of did. Errors wrap ErrNotFound or
// ErrTombstoned.
func (d *Directory) DocumentFor(did string) (*Document, error) {
	data, err := d.DataFor(did)
	if err != nil {
		return nil, err
	}
	return data.Document()
}

// Log returns did's operations, oldest first. The error wraps ErrNotFound
// for an unknown DID.
func (d *Directory) Log(did string) ([]*Op, error) {
	stored, err := d.readLog(did)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		return nil, fmt.Errorf("%s: %w", did, ErrNotFound)
	}
	ops := make([]*Op, len(stored))
	for i, s := range stored {
		ops[i] = s.op
	}
	return ops, nil
}

// LogEntry is one operation of an audit log.
type LogEntry struct {
	DID       string `json:"did"`
	Operation *Op    `json:"operation"`
	CID       string `json:"cid"`
	// Nullified is always false here: the development directory has no
	// recovery window, so no operation is ever overridden.
	Nullified bool `json:"nullified"`
	// CreatedAt is when the directory accepted the operation, in RFC 3339
	// with milliseconds, as the reference directory writes it.
	CreatedAt string `json:"createdAt"`
}

const createdAtLayout = "2006-01-02T15:04:05.000Z"

// AuditLog returns did's operations with their CIDs and acceptance times,
// oldest first. The error wraps ErrNotFound for an unknown DID.
func (d *Directory) AuditLog(did string) ([]LogEntry, error) {
	stored, err := d.readLog(did)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		return nil, fmt.Errorf("%s: %w", did, ErrNotFound)
	}
	entries := make([]LogEntry, len(stored))
	for i, s := range stored {
		entries[i] = LogEntry{
			DID:       did,
			Operation: s.op,
			CID:       s.cid.String(),
			CreatedAt: s.createdAt.UTC().Format(createdAtLayout),
		}
	}
	return entries, nil
}

// pebbleLogger sends Pebble's own lines to the directory's logger.
type pebbleLogger struct{ log *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf must not return: Pebble calls it on a broken internal invariant.
// A library must not exit the process, so it panics after logging.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	p.log.Error(msg)
	panic(msg)
}
