package subscribe

import (
	"encoding/binary"
	"net"
	"time"

	"github.com/conflux-atproto/conflux/firehose/eventlog"
)

// WebSocket opcodes and close codes the server writes (RFC 6455 §5.2, §7.4).
const (
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA

	finBit            = 0x80
	maxHeaderSize     = 10
	maxControlPayload = 125

	closeNormal    = 1000
	closeGoingAway = 1001
	closeNoStatus  = 1005 // received only: the client's close had no code
	closePolicy    = 1008
	closeInternal  = 1011
)

// maxWriteBytes bounds the payload of one writev, so that each write gets a
// fresh deadline: WriteTimeout then means "no progress for that long", not
// "a whole batch in that long".
const maxWriteBytes = 256 << 10

// appendHeader appends the header of a final, unmasked (server to client)
// frame with an n-byte payload.
func appendHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, finBit|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
}

// frameWriter writes WebSocket frames to the socket. Only the connection's
// writer goroutine uses it, so every byte the server sends is ordered by
// that one goroutine.
type frameWriter struct {
	nc      net.Conn
	timeout time.Duration
	hdrs    []byte      // the headers of one batch, pointed into by bufs
	bufs    net.Buffers // backing array: header, frame, header, frame, ...
	out     net.Buffers // what write sends (a field, so WriteTo does not allocate)
	ctl     []byte      // one control frame
}

// events writes each event's frame as one binary message, as stored (the
// bytes are shared with every other subscriber), batching as many as fit
// maxWriteBytes into one writev. It returns the frame bytes written.
func (w *frameWriter) events(evs []eventlog.Event) (int, error) {
	// Reserve every header up front: bufs points into hdrs, so it must not
	// be reallocated while the batch is being built.
	if need := maxHeaderSize * len(evs); cap(w.hdrs) < need {
		w.hdrs = make([]byte, 0, need)
	}
	w.hdrs = w.hdrs[:0]
	written := 0
	for len(evs) > 0 {
		bufs, n, size := w.bufs[:0], 0, 0
		for ; n < len(evs) && (n == 0 || size+len(evs[n].Frame) <= maxWriteBytes); n++ {
			f := evs[n].Frame
			start := len(w.hdrs)
			w.hdrs = appendHeader(w.hdrs, opBinary, len(f))
			bufs = append(bufs, w.hdrs[start:], f)
			size += len(f)
		}
		w.bufs, w.out = bufs[:0], bufs // WriteTo consumes out; bufs keeps the array
		if err := w.write(); err != nil {
			return written, err
		}
		written += size
		evs = evs[n:]
	}
	return written, nil
}

// message writes one message or control frame.
func (w *frameWriter) message(op byte, payload []byte) error {
	w.ctl = appendHeader(w.ctl[:0], op, len(payload))
	w.out = append(w.bufs[:0], w.ctl, payload)
	return w.write()
}

// control writes a ping or pong; payloads over the control limit are cut.
func (w *frameWriter) control(op byte, payload string) error {
	if len(payload) > maxControlPayload {
		payload = payload[:maxControlPayload]
	}
	w.ctl = appendHeader(w.ctl[:0], op, len(payload))
	w.ctl = append(w.ctl, payload...)
	w.out = append(w.bufs[:0], w.ctl)
	return w.write()
}

// close writes a close frame with code and reason (cut to the control limit).
func (w *frameWriter) close(code int, reason string) error {
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2]
	}
	w.ctl = appendHeader(w.ctl[:0], opClose, 2+len(reason))
	w.ctl = binary.BigEndian.AppendUint16(w.ctl, uint16(code))
	w.ctl = append(w.ctl, reason...)
	w.out = append(w.bufs[:0], w.ctl)
	return w.write()
}

// write sends out with a fresh deadline.
func (w *frameWriter) write() error {
	if err := w.nc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return err
	}
	_, err := w.out.WriteTo(w.nc)
	return err
}
