package syntax

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per format. Parse functions wrap them with the reason
// and a truncated copy of the input; compare with errors.Is.
var (
	ErrInvalidDID          = errors.New("invalid DID")
	ErrInvalidHandle       = errors.New("invalid handle")
	ErrInvalidAtIdentifier = errors.New("invalid at-identifier")
	ErrInvalidNSID         = errors.New("invalid NSID")
	ErrInvalidRecordKey    = errors.New("invalid record key")
	ErrInvalidRepoPath     = errors.New("invalid repo path")
	ErrInvalidTID          = errors.New("invalid TID")
	ErrInvalidATURI        = errors.New("invalid AT-URI")
	ErrInvalidDatetime     = errors.New("invalid datetime")
	ErrInvalidLanguage     = errors.New("invalid language tag")
	ErrInvalidURI          = errors.New("invalid URI")
)

// quoteLimit bounds how much of a rejected input is echoed in an error, so a
// hostile 8 KB string does not end up verbatim in every log line.
const quoteLimit = 64

// invalid builds the error returned for a rejected input. It is only called
// on the failure path, so the formatting cost never touches valid input.
func invalid(sentinel error, input, reason string) error {
	if len(input) > quoteLimit {
		return fmt.Errorf("%w: %s: %q...", sentinel, reason, input[:quoteLimit])
	}
	return fmt.Errorf("%w: %s: %q", sentinel, reason, input)
}

// Character classes shared by the scanners.

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlpha(c byte) bool { return isLower(c) || isUpper(c) }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
