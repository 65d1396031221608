package firehose

import (
	"fmt"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// MarshalJSON renders the frame in the atproto JSON form, as
// {"body": {...}, "header": {"op": 1, "t": "#commit"}}: the shape of the
// indigo relay-scenario fixtures. Links are {"$link": cid}, bytes
// {"$bytes": base64}. The body of an unknown type, which DecodeFrame does not
// keep, is null.
//
// The body goes through its CBOR encoding and dagcbor's generic JSON writer,
// so the JSON has exactly the fields the wire form has (since as null,
// prevData absent...). That costs a copy of blocks, which is fine for the
// tools that print frames.
func (f Frame) MarshalJSON() ([]byte, error) {
	hdr := map[string]any{"op": f.Op}
	if f.Op != OpError {
		hdr["t"] = f.Type
	}
	var body any
	if f.Msg != nil {
		raw, err := appendBody(nil, f.Msg)
		if err != nil {
			return nil, fmt.Errorf("frame JSON: %w", err)
		}
		if err := bodyLimits().Unmarshal(raw, &body); err != nil {
			return nil, fmt.Errorf("frame JSON: %w", err)
		}
	}
	out, err := dagcbor.ToJSON(map[string]any{"header": hdr, "body": body})
	if err != nil {
		return nil, fmt.Errorf("frame JSON: %w", err)
	}
	return out, nil
}
