package state

// Keyspace of the relay's state DB (one Pebble store, shared with the host
// consumers' durable cursors, which live under consumer.CursorKey):
//
//	'a' did      -> account record (JSON, see Account)
//	'h' hostname -> host record (JSON, see Host)
//	'b' domain   -> banned domain marker (empty value)
//
// JSON keeps the records readable in a debugger and easy to extend; they are
// small and read once per event, which is cheap next to a signature check.
const (
	prefixAccount   = 'a'
	prefixHost      = 'h'
	prefixDomainBan = 'b'
)

func accountKey(did string) []byte   { return append([]byte{prefixAccount}, did...) }
func hostKey(hostname string) []byte { return append([]byte{prefixHost}, hostname...) }
func domainBanKey(d string) []byte   { return append([]byte{prefixDomainBan}, d...) }

// upperBound returns the first key after every key with prefix p.
func upperBound(p byte) []byte { return []byte{p + 1} }

// prefixLocal holds an account's local status ('l' did -> status string),
// apart from the account record: admin takedowns write it while an ingester
// may be rewriting the record in its own batch, and neither must undo the
// other. Absent means active.
const prefixLocal = 'l'

func localKey(did string) []byte { return append([]byte{prefixLocal}, did...) }
