// Package verify runs the relay's sync 1.1 checks on upstream #commit and
// #sync events, in the order of the spec's checklist (sizes, identity and
// host, account status, CAR, commit fields, revs, signature, continuity, MST
// inversion), and names every rejection with a Reason that doubles as a
// metric label.
//
// The verifier is stateless: the caller passes the account's stored state and
// persists the result. Identity comes through a small interface that
// *identity.Cache satisfies, so a signature failure or a host mismatch can
// force one fresh resolution before the event is rejected (keys rotate and
// accounts migrate; a stale cache must not drop good events).
package verify

// Reason names why an event was dropped, or what a counted warning was. It is
// a bounded set, used as the reason label of the relay's drop metric.
type Reason string

// Drop reasons.
const (
	ReasonNone            Reason = ""
	ReasonBadFrame        Reason = "bad_frame"         // undecodable frame, wrong field types
	ReasonBlocksTooBig    Reason = "blocks_too_big"    // blocks over 2,000,000 bytes
	ReasonTooManyOps      Reason = "too_many_ops"      // more than 200 ops
	ReasonDeprecatedFlag  Reason = "deprecated_flag"   // tooBig or rebase set
	ReasonIdentity        Reason = "identity"          // DID did not resolve, or no key or PDS
	ReasonTombstoned      Reason = "tombstoned"        // DID deleted for good
	ReasonWrongHost       Reason = "wrong_host"        // event not from the DID's current PDS
	ReasonInactive        Reason = "inactive_account"  // account not active (locally or upstream)
	ReasonThrottled       Reason = "account_throttled" // host over its account limit
	ReasonBadCAR          Reason = "bad_car"           // CAR does not parse, or a block's hash is wrong
	ReasonCARRoot         Reason = "car_root"          // roots[0] is not the commit, or commit block missing
	ReasonBadCommit       Reason = "bad_commit"        // commit block malformed
	ReasonCommitMismatch  Reason = "commit_mismatch"   // commit did or rev differ from the event
	ReasonBadRev          Reason = "bad_rev"           // rev is not a valid TID
	ReasonFutureRev       Reason = "future_rev"        // rev more than the allowed skew in the future
	ReasonStaleRev        Reason = "stale_rev"         // rev not greater than the stored one
	ReasonBadSignature    Reason = "bad_signature"     // signature fails with the current key
	ReasonBadOps          Reason = "bad_ops"           // op shape invalid, or record block missing
	ReasonInversion       Reason = "inversion"         // ops do not invert to prevData
	ReasonMissingPrevData Reason = "missing_prevdata"  // strict: no prevData although state is known
	ReasonReplayedSeq     Reason = "replayed_seq"      // upstream seq not above the last one
	ReasonHostBanned      Reason = "host_banned"       // from a banned host
)

// Warnings: counted, logged, and the event passes.
const (
	WarnDiscontinuity Reason = "discontinuity"       // since or prevData differ from the stored state
	WarnInversion     Reason = "lenient_inversion"   // lenient host: ops did not invert
	WarnNoPrevData    Reason = "lenient_no_prevdata" // lenient host: no prevData though state is known
)

// Rejection is the error of a dropped event.
type Rejection struct {
	Reason Reason
	Err    error
}

func (r *Rejection) Error() string {
	if r.Err == nil {
		return string(r.Reason)
	}
	return string(r.Reason) + ": " + r.Err.Error()
}

func (r *Rejection) Unwrap() error { return r.Err }

func reject(reason Reason, err error) *Rejection { return &Rejection{Reason: reason, Err: err} }
