package lexicon

import (
	"fmt"

	"github.com/conflux-atproto/conflux/repo/dagcbor"
)

// DecodeRecord validates a DAG-CBOR record against the default catalog and
// decodes it. See Catalog.DecodeRecord.
func DecodeRecord(collection string, data []byte) (any, error) {
	return Default().DecodeRecord(collection, data)
}

// DecodeRecord decodes a DAG-CBOR record of the given collection, validates
// it (ValidateRecord), and returns it as its Go type: *FeedPost, *FeedLike,
// *FeedRepost, *FeedGenerator, *GraphFollow or *ActorProfile. A collection
// the catalog knows but this package has no type for comes back as the
// validated map[string]any. Unknown collections fail with ErrUnknownSchema.
func (c *Catalog) DecodeRecord(collection string, data []byte) (any, error) {
	var generic any
	if err := dagcbor.Unmarshal(data, &generic); err != nil {
		return nil, fmt.Errorf("decode %s record: %w", collection, err)
	}
	rec, ok := generic.(map[string]any)
	if !ok {
		return nil, &ValidationError{Name: ErrNameInvalidRecord, Path: "record",
			Message: fmt.Sprintf("expected an object, got %s", describe(generic))}
	}
	if err := c.ValidateRecord(collection, rec); err != nil {
		return nil, err
	}
	var out any
	switch collection {
	case NSIDFeedPost:
		out = new(FeedPost)
	case NSIDFeedLike:
		out = new(FeedLike)
	case NSIDFeedRepost:
		out = new(FeedRepost)
	case NSIDFeedGenerator:
		out = new(FeedGenerator)
	case NSIDGraphFollow:
		out = new(GraphFollow)
	case NSIDActorProfile:
		out = new(ActorProfile)
	default:
		return rec, nil
	}
	if err := unmarshalTyped(data, out); err != nil {
		return nil, fmt.Errorf("decode %s record: %w", collection, err)
	}
	return out, nil
}
