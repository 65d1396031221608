package plc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

const (
	// DevDirectoryHeader is set to "true" on every response of the
	// development directory, so nobody mistakes it for plc.directory.
	DevDirectoryHeader = "X-Conflux-Dev-Directory"
	// MaxBodySize bounds a POSTed operation. JSON is larger than the
	// DAG-CBOR that MaxOpSize bounds (escapes, whitespace), hence the
	// margin; anything bigger is refused before it is parsed.
	MaxBodySize = 16 << 10

	contentTypeJSON    = "application/json"
	contentTypeDIDJSON = "application/did+ld+json"
	healthVersion      = "conflux-dev-directory"
)

// ServeHTTP serves the PLC HTTP API: GET /{did} (document), POST /{did}
// (submit an operation), GET /{did}/data, /{did}/log, /{did}/log/audit,
// /{did}/log/last, and GET /_health. Errors are JSON {"message": ...}.
func (d *Directory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(DevDirectoryHeader, "true")
	d.mux.ServeHTTP(w, r)
}

func (d *Directory) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_health", d.handleHealth)
	mux.HandleFunc("GET /{did}", d.handleDocument)
	mux.HandleFunc("POST /{did}", d.handleSubmit)
	mux.HandleFunc("GET /{did}/data", d.handleData)
	mux.HandleFunc("GET /{did}/log", d.handleLog)
	mux.HandleFunc("GET /{did}/log/audit", d.handleAuditLog)
	mux.HandleFunc("GET /{did}/log/last", d.handleLastOp)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	return mux
}

func (d *Directory) handleHealth(w http.ResponseWriter, r *http.Request) {
	release, err := d.acquire()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	release()
	d.writeJSON(w, contentTypeJSON, map[string]string{"version": healthVersion})
}

func (d *Directory) handleDocument(w http.ResponseWriter, r *http.Request) {
	doc, err := d.DocumentFor(r.PathValue("did"))
	if err != nil {
		d.writeErr(w, r, err)
		return
	}
	d.writeJSON(w, contentTypeDIDJSON, doc)
}

func (d *Directory) handleData(w http.ResponseWriter, r *http.Request) {
	data, err := d.DataFor(r.PathValue("did"))
	if err != nil {
		d.writeErr(w, r, err)
		return
	}
	d.writeJSON(w, contentTypeJSON, data)
}

func (d *Directory) handleLog(w http.ResponseWriter, r *http.Request) {
	ops, err := d.Log(r.PathValue("did"))
	if err != nil {
		d.writeErr(w, r, err)
		return
	}
	d.writeJSON(w, contentTypeJSON, ops)
}

func (d *Directory) handleAuditLog(w http.ResponseWriter, r *http.Request) {
	entries, err := d.AuditLog(r.PathValue("did"))
	if err != nil {
		d.writeErr(w, r, err)
		return
	}
	d.writeJSON(w, contentTypeJSON, entries)
}

func (d *Directory) handleLastOp(w http.ResponseWriter, r *http.Request) {
	op, err := d.LastOp(r.PathValue("did"))
	if err != nil {
		d.writeErr(w, r, err)
		return
	}
	d.writeJSON(w, contentTypeJSON, op)
}

func (d *Directory) handleSubmit(w http.ResponseWriter, r *http.Request) {
	did := r.PathValue("did")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("operation body too large (limit %d bytes)", MaxBodySize))
			return
		}
		writeError(w, http.StatusBadRequest, "could not read the operation body")
		return
	}
	op, err := ParseOp(body)
	if err == nil {
		err = d.Submit(did, op)
	}
	if err != nil {
		// An update for an unknown DID is a bad operation here, not a
		// missing resource, as in the reference directory.
		if errors.Is(err, ErrNotFound) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		d.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// statusFor maps an error to its HTTP status. Anything not recognized as
// the client's fault is a 500.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrTombstoned):
		return http.StatusGone
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrInvalidDID), errors.Is(err, ErrInvalidOp),
		errors.Is(err, ErrBadSignature), errors.Is(err, ErrWrongPrev),
		errors.Is(err, ErrDIDMismatch):
		return http.StatusBadRequest
	default:
		return http.StatusInternalServerError
	}
}

// writeErr answers with err's status. Internal errors are logged here (the
// top of the request) and hidden from the client.
func (d *Directory) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	status := statusFor(err)
	if status == http.StatusInternalServerError {
		d.log.Error("PLC directory request failed", "did", truncate(r.PathValue("did")), "err", err)
		writeError(w, status, "Internal Server Error")
		return
	}
	d.log.Debug("PLC directory request refused", "did", truncate(r.PathValue("did")), "err", err)
	writeError(w, status, err.Error())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"message": msg}) // a string map cannot fail
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (d *Directory) writeJSON(w http.ResponseWriter, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		d.log.Error("PLC directory response encoding failed", "err", err)
		writeError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
