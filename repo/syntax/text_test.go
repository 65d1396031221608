package syntax

import (
	"encoding/json"
	"testing"
)

// record uses every type as a JSON field, the way XRPC and record structs do.
type record struct {
	DID      DID          `json:"did"`
	Handle   Handle       `json:"handle"`
	Actor    AtIdentifier `json:"actor"`
	NSID     NSID         `json:"nsid"`
	RKey     RecordKey    `json:"rkey"`
	Rev      TID          `json:"rev"`
	URI      ATURI        `json:"uri"`
	Created  Datetime     `json:"createdAt"`
	Lang     Language     `json:"lang"`
	Link     URI          `json:"link"`
	Optional *ATURI       `json:"optional,omitempty"`
}

const goodRecord = `{"did":"did:plc:asdf123","handle":"alice.test","actor":"did:web:example.com",` +
	`"nsid":"app.bsky.feed.post","rkey":"self","rev":"3l3qo2vxaaw22",` +
	`"uri":"at://did:plc:asdf123/app.bsky.feed.post/3l3qo2vxaaw22","createdAt":"1985-04-12T23:20:50.123Z",` +
	`"lang":"pt-BR","link":"https://example.com/x"}`

func TestTextRoundTrip(t *testing.T) {
	t.Parallel()
	var r record
	if err := json.Unmarshal([]byte(goodRecord), &r); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if r.URI.RecordKey() != "3l3qo2vxaaw22" || r.Rev.UnixMicro() != 1725911162329308 {
		t.Errorf("decoded values wrong: %+v", r)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if string(out) != goodRecord {
		t.Errorf("round trip changed the JSON:\n got %s\nwant %s", out, goodRecord)
	}
}

func TestTextRejectsInvalid(t *testing.T) {
	t.Parallel()
	bad := map[string]any{
		"did":       &struct{ V DID }{},
		"handle":    &struct{ V Handle }{},
		"actor":     &struct{ V AtIdentifier }{},
		"nsid":      &struct{ V NSID }{},
		"rkey":      &struct{ V RecordKey }{},
		"rev":       &struct{ V TID }{},
		"uri":       &struct{ V ATURI }{},
		"createdAt": &struct{ V Datetime }{},
		"lang":      &struct{ V Language }{},
		"link":      &struct{ V URI }{},
	}
	for name, target := range bad {
		if err := json.Unmarshal([]byte(`{"V":"."}`), target); err == nil {
			t.Errorf("%s: invalid value accepted", name)
		}
	}
}
