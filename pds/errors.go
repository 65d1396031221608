package pds

import "errors"

// Errors of the in-process API. Each is wrapped with detail; compare with
// errors.Is. The XRPC layer maps each to a status and an error name (see
// xrpcErrors), so the table of names lives in one place.
var (
	// ErrInvalidRequest: a malformed argument (bad rkey, bad collection,
	// a write list that is empty or too long, a path written twice...).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInvalidRecord: a record that is not valid data-model content,
	// fails its schema, or is over MaxRecordSize. The message names the
	// field.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrRepoNotFound: no account with that DID or handle on this host.
	ErrRepoNotFound = errors.New("repo not found")
	// ErrRecordNotFound: no record at that path.
	ErrRecordNotFound = errors.New("record not found")
	// ErrBlobNotFound: no blob with that CID in the repo.
	ErrBlobNotFound = errors.New("blob not found")
	// ErrInvalidSwap: swapCommit or swapRecord does not match the current
	// state.
	ErrInvalidSwap = errors.New("invalid swap")
	// ErrRepoDeactivated: the account is deactivated; writes are refused.
	ErrRepoDeactivated = errors.New("repo deactivated")
	// ErrRepoTakendown: the account is taken down.
	ErrRepoTakendown = errors.New("repo taken down")
	// ErrInvalidHandle: the handle is malformed, or not under one of the
	// host's domains.
	ErrInvalidHandle = errors.New("invalid handle")
	// ErrHandleTaken: another account has the handle.
	ErrHandleTaken = errors.New("handle not available")
	// ErrInvalidPassword: a password that is empty or too long to hash.
	ErrInvalidPassword = errors.New("invalid password")
	// ErrAuthFailed: wrong identifier or password at createSession.
	ErrAuthFailed = errors.New("invalid identifier or password")
	// ErrBlobTooLarge: a blob over Config.MaxBlobSize.
	ErrBlobTooLarge = errors.New("blob too large")
	// ErrPLC: the PLC directory refused or failed the new DID.
	ErrPLC = errors.New("plc directory")
	// ErrNotRunning: the PDS is not running (Run not started yet, or
	// stopping); writes wait for Run until their context ends.
	ErrNotRunning = errors.New("pds: not running")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("pds: closed")
	// ErrCorrupt: the store breaks an invariant of ours (a missing head or
	// block). It is our own corruption, never outside input.
	ErrCorrupt = errors.New("pds: corrupt store")
)
