package plc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrRejected: the directory refused the request as invalid (HTTP 400).
var ErrRejected = errors.New("PLC directory rejected the request")

const (
	// DefaultClientTimeout bounds one request of a Client without its own
	// HTTPClient.
	DefaultClientTimeout = 10 * time.Second
	// maxResponseSize bounds what a Client reads: an audit log of a few
	// hundred operations, with room to spare.
	maxResponseSize = 4 << 20
)

// StatusError is an unsuccessful answer from a directory. It unwraps to
// ErrRejected (400), ErrNotFound (404) or ErrTombstoned (410).
type StatusError struct {
	StatusCode int
	// Message is the directory's {"message": ...}, or the start of the
	// body if it had none.
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("PLC directory: HTTP %d: %s", e.StatusCode, e.Message)
}

func (e *StatusError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusBadRequest:
		return ErrRejected
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusGone:
		return ErrTombstoned
	}
	return nil
}

// Client speaks the PLC HTTP API to a directory (ours or plc.directory).
// The zero value is not usable: BaseURL is required.
type Client struct {
	// BaseURL is the directory, e.g. "https://plc.directory".
	BaseURL string
	// HTTPClient makes the requests; a client with DefaultClientTimeout if
	// nil.
	HTTPClient *http.Client
}

// Submit posts op for did. Errors from the directory are *StatusError.
func (c *Client) Submit(ctx context.Context, did string, op *Op) error {
	body, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("submit PLC operation for %s: %w", did, err)
	}
	_, err = c.do(ctx, http.MethodPost, did, "", body)
	return err
}

// Resolve fetches the DID document of did and checks that it is for did.
func (c *Client) Resolve(ctx context.Context, did string) (*Document, error) {
	var doc Document
	if err := c.getJSON(ctx, did, "", &doc); err != nil {
		return nil, err
	}
	if doc.ID != did {
		return nil, fmt.Errorf("PLC directory: document for %s has id %q", did, truncate(doc.ID))
	}
	return &doc, nil
}

// Data fetches the current state of did.
func (c *Client) Data(ctx context.Context, did string) (*Data, error) {
	var data Data
	if err := c.getJSON(ctx, did, "/data", &data); err != nil {
		return nil, err
	}
	return &data, nil
}

// LastOp fetches the head operation of did, the prev of its next update.
// A legacy create operation fails to decode (ErrLegacyOp).
func (c *Client) LastOp(ctx context.Context, did string) (*Op, error) {
	var op Op
	if err := c.getJSON(ctx, did, "/log/last", &op); err != nil {
		return nil, err
	}
	return &op, nil
}

// AuditLog fetches the audit log of did.
func (c *Client) AuditLog(ctx context.Context, did string) ([]LogEntry, error) {
	var entries []LogEntry
	if err := c.getJSON(ctx, did, "/log/audit", &entries); err != nil {
		return nil, err
	}
	return entries, nil
}

func (c *Client) getJSON(ctx context.Context, did, suffix string, v any) error {
	body, err := c.do(ctx, http.MethodGet, did, suffix, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("PLC directory: %s%s: decode: %w", did, suffix, err)
	}
	return nil
}

// do sends one request and returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, did, suffix string, body []byte) ([]byte, error) {
	// Checking the DID first also makes it safe to put in the path as is:
	// it holds only "did:plc:" and base32 characters.
	if err := CheckDID(did); err != nil {
		return nil, err
	}
	if c.BaseURL == "" {
		return nil, errors.New("PLC client: no BaseURL")
	}
	u := strings.TrimSuffix(c.BaseURL, "/") + "/" + did + suffix
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("PLC directory: %s %s: %w", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentTypeJSON)
	}
	req.Header.Set("Accept", contentTypeJSON+", "+contentTypeDIDJSON)
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultClientTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("PLC directory: %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("PLC directory: %s %s: read body: %w", method, u, err)
	}
	if len(data) > maxResponseSize {
		return nil, fmt.Errorf("PLC directory: %s %s: response over %d bytes", method, u, maxResponseSize)
	}
	if resp.StatusCode/100 != 2 {
		return nil, statusError(resp.StatusCode, data)
	}
	return data, nil
}

func statusError(code int, body []byte) *StatusError {
	var msg struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Message == "" {
		msg.Message = truncate(strings.TrimSpace(string(body)))
	}
	return &StatusError{StatusCode: code, Message: msg.Message}
}
