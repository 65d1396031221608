package feedgen

import "fmt"

// reqError is a sentinel plus the message the client sees.
type reqError struct {
	sentinel error
	msg      string
}

func (e *reqError) Error() string { return e.msg }
func (e *reqError) Unwrap() error { return e.sentinel }

func wrapf(sentinel error, format string, args ...any) error {
	return &reqError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}
