package lexicon

import (
	"net/url"
	"strconv"
	"strings"
)

// ValidateParams checks the query parameters of an XRPC call against the
// method's params: required ones present, each value parsing as its type
// (booleans as true or false, integers in decimal) and meeting its
// constraints, repeated only for arrays. Parameters the schema does not
// declare are ignored. Failures are *ValidationError named InvalidRequest
// with paths "params/<name>".
func (c *Catalog) ValidateParams(nsid string, q url.Values) error {
	def, err := c.main(nsid, kindQuery, kindProcedure, kindSubscription)
	if err != nil {
		return err
	}
	if def.Parameters == nil {
		return nil
	}
	v := validator{cat: c, name: ErrNameInvalidRequest}
	for _, r := range def.Parameters.Required {
		if len(q[r]) == 0 {
			return at(v.fail("required parameter missing"), "params/"+r)
		}
	}
	for _, prop := range def.Parameters.props {
		vals, ok := q[prop.name]
		if !ok {
			continue
		}
		x, err := v.param(prop.def, vals)
		if err == nil {
			err = v.value(prop.def, x)
		}
		if err != nil {
			return at(err, "params/"+prop.name)
		}
	}
	return nil
}

// param converts the string values of one parameter to a data-model value.
func (v *validator) param(d *Def, vals []string) (any, error) {
	if d.kind == kindArray {
		out := make([]any, len(vals))
		for i, s := range vals {
			x, err := v.scalarParam(d.Items, s)
			if err != nil {
				return nil, atIndex(err, i)
			}
			out[i] = x
		}
		return out, nil
	}
	if len(vals) != 1 {
		return nil, v.fail("given %d times; only arrays may repeat", len(vals))
	}
	return v.scalarParam(d, vals[0])
}

func (v *validator) scalarParam(d *Def, s string) (any, error) {
	switch d.kind {
	case kindBoolean:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, v.fail("%q is not true or false", s)
	case kindInteger:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, v.fail("%q is not an integer", s)
		}
		return n, nil
	case kindUnknown:
		// No string form is defined for unknown parameters; pass them as an
		// empty object so that only presence is checked.
		return map[string]any{}, nil
	}
	return s, nil
}

// ValidateInput checks the decoded JSON input body of a procedure (a generic
// value from dagcbor.FromJSON). A procedure without an input schema accepts
// any body. Failures are named InvalidRequest with paths from "input".
func (c *Catalog) ValidateInput(nsid string, body any) error {
	def, err := c.main(nsid, kindProcedure)
	if err != nil {
		return err
	}
	return c.body(def.Input, body, "input", ErrNameInvalidRequest)
}

// ValidateOutput checks the decoded JSON output body of a query or procedure.
// Failures are named InvalidResponse with paths from "output".
func (c *Catalog) ValidateOutput(nsid string, body any) error {
	def, err := c.main(nsid, kindQuery, kindProcedure)
	if err != nil {
		return err
	}
	return c.body(def.Output, body, "output", ErrNameInvalidResponse)
}

func (c *Catalog) body(b *Body, x any, where, name string) error {
	if b == nil || b.Schema == nil {
		return nil
	}
	v := validator{cat: c, name: name}
	return at(v.value(b.Schema, x), where)
}

// ValidateMessage checks one message of a subscription. msgType names the
// variant as the event-stream header gives it ("#commit"), or in full
// ("com.atproto.sync.subscribeRepos#commit"); body need not carry a $type,
// since on a stream the header says it. Failures are named InvalidMessage.
func (c *Catalog) ValidateMessage(nsid, msgType string, body map[string]any) error {
	def, err := c.main(nsid, kindSubscription)
	if err != nil {
		return err
	}
	v := validator{cat: c, name: ErrNameInvalidMessage}
	full := msgType
	if strings.HasPrefix(msgType, "#") {
		full = nsid + msgType
	}
	for _, r := range def.Message.Schema.fullRefs {
		if r != full {
			continue
		}
		t, ok := c.defs[r]
		if !ok {
			return at(v.fail("schema %s is not in the catalog", r), "message")
		}
		return at(v.value(t, body), "message")
	}
	return at(v.fail("message type %q is not one of %v", msgType, def.Message.Schema.Refs), "message")
}
