package index

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Actor is the per-account state the firehose's #identity and #account
// events maintain.
type Actor struct {
	DID    string
	Handle string // "" until an #identity event names one
	// Status is "" for an active account, else the #account status
	// (deactivated, deleted, takendown, suspended, ...).
	Status string
}

// Hidden reports whether the account's content must not be served.
func (a Actor) Hidden() bool { return a.Status != "" }

func encodeActor(a Actor) []byte {
	v := make([]byte, 0, 1+len(a.Status)+len(a.Handle))
	v = append(v, byte(len(a.Status)))
	v = append(v, a.Status...)
	return append(v, a.Handle...)
}

func decodeActor(did string, v []byte) (Actor, error) {
	if len(v) < 1 || len(v) < 1+int(v[0]) {
		return Actor{}, fmt.Errorf("%w: actor %s", ErrCorrupt, did)
	}
	n := int(v[0])
	return Actor{DID: did, Status: string(v[1 : 1+n]), Handle: string(v[1+n:])}, nil
}

// GetActor returns the stored state of did (zero Handle and Status if none).
func GetActor(r pebble.Reader, did string) (Actor, error) {
	v, ok, err := get(r, key(pActor, did))
	if err != nil || !ok {
		return Actor{DID: did}, err
	}
	return decodeActor(did, v)
}

func putActor(b *pebble.Batch, a Actor) error {
	var err error
	if a.Handle == "" && a.Status == "" {
		err = b.Delete(key(pActor, a.DID), nil)
	} else {
		err = b.Set(key(pActor, a.DID), encodeActor(a), nil)
	}
	if err != nil {
		return fmt.Errorf("store actor %s: %w", a.DID, err)
	}
	return nil
}

// ApplyIdentity records the handle an #identity event carries ("" keeps
// the old one: the event only says the identity changed).
func (ix *Index) ApplyIdentity(b *pebble.Batch, did, handle string) error {
	handle = strings.ToLower(handle)
	if handle == "" || len(handle) > 253 || strings.IndexByte(handle, 0) >= 0 {
		return nil
	}
	a, err := GetActor(b, did)
	if err != nil {
		return err
	}
	if a.Handle == handle {
		return nil
	}
	if a.Handle != "" {
		// Drop our old handle's mapping unless another DID claimed it since.
		owner, ok, err := get(b, key(pHandle, a.Handle))
		if err != nil {
			return err
		}
		if ok && string(owner) == did {
			if err := b.Delete(key(pHandle, a.Handle), nil); err != nil {
				return fmt.Errorf("delete handle %s: %w", a.Handle, err)
			}
		}
	}
	if err := b.Set(key(pHandle, handle), []byte(did), nil); err != nil {
		return fmt.Errorf("store handle %s: %w", handle, err)
	}
	a.Handle = handle
	return putActor(b, a)
}

// ResolveHandle returns the DID that last claimed handle (lower-cased) in
// an #identity event.
func ResolveHandle(r pebble.Reader, handle string) (string, bool, error) {
	v, ok, err := get(r, key(pHandle, strings.ToLower(handle)))
	return string(v), ok, err
}

// ApplyAccount records an #account event: active clears the status, an
// inactive account's status hides its content from every read.
func (ix *Index) ApplyAccount(b *pebble.Batch, did string, active bool, status string) error {
	a, err := GetActor(b, did)
	if err != nil {
		return err
	}
	switch {
	case active:
		a.Status = ""
	case status == "":
		a.Status = "inactive"
	case len(status) > 64:
		a.Status = status[:64]
	default:
		a.Status = status
	}
	return putActor(b, a)
}
