package index

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// FormatVersion is the index layout this package reads and writes. Version
// 2 stores records pre-built (record.go) where version 1 stored their CBOR.
const FormatVersion byte = 2

// ErrFormat reports an index written in another layout; it has to be
// rebuilt (delete the directory and index again from the relay).
var ErrFormat = errors.New("index: written in another format; delete it to reindex")

var formatKey = []byte{pMeta, 'f', 'o', 'r', 'm', 'a', 't'}

// CheckFormat makes sure db holds an index of FormatVersion: an empty
// store gets the version marker (synced), a store without the marker but
// with index keys, or with another version, fails with ErrFormat. The
// consumer cursor (keys from 0xFF) is not an index key.
func CheckFormat(db *pebble.DB) error {
	v, ok, err := get(db, formatKey)
	if err != nil {
		return err
	}
	if ok {
		if len(v) != 1 || v[0] != FormatVersion {
			return fmt.Errorf("%w (found version %x, want %d)", ErrFormat, v, FormatVersion)
		}
		return nil
	}
	it, err := db.NewIter(&pebble.IterOptions{UpperBound: []byte{0xff}})
	if err != nil {
		return fmt.Errorf("check index format: %w", err)
	}
	hasKeys := it.First()
	if err := it.Close(); err != nil {
		return fmt.Errorf("check index format: %w", err)
	}
	if hasKeys {
		return fmt.Errorf("%w (no version marker: version 1)", ErrFormat)
	}
	if err := db.Set(formatKey, []byte{FormatVersion}, pebble.Sync); err != nil {
		return fmt.Errorf("write index format: %w", err)
	}
	return nil
}
