package lexicon

import (
	"encoding/json"
	"fmt"
)

// Go types for the XRPC bodies Conflux serves and calls, in their JSON form.
// Fields of Lexicon type unknown (records, DID documents) are raw JSON; parse
// them with dagcbor.FromJSON to validate or store them.

// FeedGetFeedSkeletonOutput is the output of app.bsky.feed.getFeedSkeleton.
type FeedGetFeedSkeletonOutput struct {
	Cursor string             `json:"cursor,omitempty"`
	Feed   []SkeletonFeedPost `json:"feed"`
	ReqID  string             `json:"reqId,omitempty"`
}

// SkeletonFeedPost is one post of a feed skeleton.
type SkeletonFeedPost struct {
	Post        string          `json:"post"`
	Reason      *SkeletonReason `json:"reason,omitempty"`
	FeedContext string          `json:"feedContext,omitempty"`
}

// SkeletonReasonRepost says the post is in the feed because of a repost.
type SkeletonReasonRepost struct {
	Type   string `json:"$type,omitempty"`
	Repost string `json:"repost"`
}

// SkeletonReasonPin says the post is the author's pinned post.
type SkeletonReasonPin struct {
	Type string `json:"$type,omitempty"`
}

// NSIDs of the skeleton reasons.
const (
	NSIDSkeletonReasonRepost = "app.bsky.feed.defs#skeletonReasonRepost"
	NSIDSkeletonReasonPin    = "app.bsky.feed.defs#skeletonReasonPin"
)

// SkeletonReason is the reason union of a skeleton post.
type SkeletonReason struct {
	Repost  *SkeletonReasonRepost
	Pin     *SkeletonReasonPin
	Unknown *UnknownVariant
}

// MarshalJSON implements json.Marshaler, writing the member's $type.
func (r SkeletonReason) MarshalJSON() ([]byte, error) {
	switch {
	case r.Repost != nil:
		v := *r.Repost
		v.Type = NSIDSkeletonReasonRepost
		return json.Marshal(&v)
	case r.Pin != nil:
		return json.Marshal(SkeletonReasonPin{Type: NSIDSkeletonReasonPin})
	case r.Unknown != nil:
		return r.Unknown.MarshalJSON()
	}
	return nil, errEmptyUnion
}

// UnmarshalJSON implements json.Unmarshaler, choosing the member by $type.
func (r *SkeletonReason) UnmarshalJSON(b []byte) error {
	typ, err := unionTypeJSON(b)
	if err != nil {
		return err
	}
	*r = SkeletonReason{}
	switch typ {
	case NSIDSkeletonReasonRepost:
		r.Repost, err = decodeVariant[SkeletonReasonRepost](b, true)
	case NSIDSkeletonReasonPin:
		r.Pin, err = decodeVariant[SkeletonReasonPin](b, true)
	default:
		r.Unknown = unknownVariant(typ, b, true)
	}
	return err
}

// FeedDescribeFeedGeneratorOutput is the output of
// app.bsky.feed.describeFeedGenerator.
type FeedDescribeFeedGeneratorOutput struct {
	DID   string              `json:"did"`
	Feeds []FeedGeneratorFeed `json:"feeds"`
	Links *FeedGeneratorLinks `json:"links,omitempty"`
}

// FeedGeneratorFeed is one feed a generator offers.
type FeedGeneratorFeed struct {
	URI string `json:"uri"`
}

// FeedGeneratorLinks are a feed generator's policy links.
type FeedGeneratorLinks struct {
	PrivacyPolicy  string `json:"privacyPolicy,omitempty"`
	TermsOfService string `json:"termsOfService,omitempty"`
}

// RepoCommitMeta is the commit a repo write produced.
type RepoCommitMeta struct {
	CID string `json:"cid"`
	Rev string `json:"rev"`
}

// RepoCreateRecordInput is the input of com.atproto.repo.createRecord.
type RepoCreateRecordInput struct {
	Repo       string          `json:"repo"`
	Collection string          `json:"collection"`
	Rkey       string          `json:"rkey,omitempty"`
	Validate   *bool           `json:"validate,omitempty"`
	Record     json.RawMessage `json:"record"`
	SwapCommit *string         `json:"swapCommit,omitempty"`
}

// RepoWriteOutput is the output of createRecord and putRecord.
type RepoWriteOutput struct {
	URI              string          `json:"uri"`
	CID              string          `json:"cid"`
	Commit           *RepoCommitMeta `json:"commit,omitempty"`
	ValidationStatus string          `json:"validationStatus,omitempty"`
}

// RepoPutRecordInput is the input of com.atproto.repo.putRecord. SwapRecord
// is nullable: a JSON null asks that the record not exist yet.
type RepoPutRecordInput struct {
	Repo       string          `json:"repo"`
	Collection string          `json:"collection"`
	Rkey       string          `json:"rkey"`
	Validate   *bool           `json:"validate,omitempty"`
	Record     json.RawMessage `json:"record"`
	SwapRecord *string         `json:"swapRecord,omitempty"`
	SwapCommit *string         `json:"swapCommit,omitempty"`
}

// RepoDeleteRecordInput is the input of com.atproto.repo.deleteRecord.
type RepoDeleteRecordInput struct {
	Repo       string  `json:"repo"`
	Collection string  `json:"collection"`
	Rkey       string  `json:"rkey"`
	SwapRecord *string `json:"swapRecord,omitempty"`
	SwapCommit *string `json:"swapCommit,omitempty"`
}

// RepoDeleteRecordOutput is the output of com.atproto.repo.deleteRecord.
type RepoDeleteRecordOutput struct {
	Commit *RepoCommitMeta `json:"commit,omitempty"`
}

// NSIDs of the applyWrites members.
const (
	NSIDApplyWritesCreate       = "com.atproto.repo.applyWrites#create"
	NSIDApplyWritesUpdate       = "com.atproto.repo.applyWrites#update"
	NSIDApplyWritesDelete       = "com.atproto.repo.applyWrites#delete"
	NSIDApplyWritesCreateResult = "com.atproto.repo.applyWrites#createResult"
	NSIDApplyWritesUpdateResult = "com.atproto.repo.applyWrites#updateResult"
	NSIDApplyWritesDeleteResult = "com.atproto.repo.applyWrites#deleteResult"
)

// RepoApplyWritesInput is the input of com.atproto.repo.applyWrites.
type RepoApplyWritesInput struct {
	Repo       string       `json:"repo"`
	Validate   *bool        `json:"validate,omitempty"`
	Writes     []ApplyWrite `json:"writes"`
	SwapCommit *string      `json:"swapCommit,omitempty"`
}

// ApplyWrite is one operation of applyWrites, a closed union: exactly one
// field is set, named by the member's $type.
type ApplyWrite struct {
	Create *ApplyWriteOp
	Update *ApplyWriteOp
	Delete *ApplyWriteOp
}

// ApplyWriteOp is the body of a create, update or delete. Value is absent
// for deletes.
type ApplyWriteOp struct {
	Type       string          `json:"$type"`
	Collection string          `json:"collection"`
	Rkey       string          `json:"rkey,omitempty"`
	Value      json.RawMessage `json:"value,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (w ApplyWrite) MarshalJSON() ([]byte, error) {
	var op ApplyWriteOp
	switch {
	case w.Create != nil:
		op, op.Type = *w.Create, NSIDApplyWritesCreate
	case w.Update != nil:
		op, op.Type = *w.Update, NSIDApplyWritesUpdate
	case w.Delete != nil:
		op, op.Type = *w.Delete, NSIDApplyWritesDelete
		op.Value = nil
	default:
		return nil, errEmptyUnion
	}
	return json.Marshal(op)
}

// UnmarshalJSON implements json.Unmarshaler. The union is closed, so an
// unknown $type is an error.
func (w *ApplyWrite) UnmarshalJSON(b []byte) error {
	var op ApplyWriteOp
	if err := json.Unmarshal(b, &op); err != nil {
		return err
	}
	*w = ApplyWrite{}
	switch op.Type {
	case NSIDApplyWritesCreate:
		w.Create = &op
	case NSIDApplyWritesUpdate:
		w.Update = &op
	case NSIDApplyWritesDelete:
		w.Delete = &op
	default:
		return fmt.Errorf("lexicon: applyWrites operation $type %q is not create, update or delete", op.Type)
	}
	return nil
}

// RepoApplyWritesOutput is the output of com.atproto.repo.applyWrites.
type RepoApplyWritesOutput struct {
	Commit  *RepoCommitMeta    `json:"commit,omitempty"`
	Results []ApplyWriteResult `json:"results,omitempty"`
}

// ApplyWriteResult is the result of one applyWrites operation. Type is the
// member's $type (one of the NSIDApplyWrites*Result constants); URI and CID
// are empty for deletes.
type ApplyWriteResult struct {
	Type             string `json:"$type"`
	URI              string `json:"uri,omitempty"`
	CID              string `json:"cid,omitempty"`
	ValidationStatus string `json:"validationStatus,omitempty"`
}

// RepoGetRecordOutput is the output of com.atproto.repo.getRecord.
type RepoGetRecordOutput struct {
	URI   string          `json:"uri"`
	CID   string          `json:"cid,omitempty"`
	Value json.RawMessage `json:"value"`
}

// RepoListRecordsOutput is the output of com.atproto.repo.listRecords.
type RepoListRecordsOutput struct {
	Cursor  string       `json:"cursor,omitempty"`
	Records []RepoRecord `json:"records"`
}

// RepoRecord is one record of listRecords.
type RepoRecord struct {
	URI   string          `json:"uri"`
	CID   string          `json:"cid"`
	Value json.RawMessage `json:"value"`
}

// RepoDescribeRepoOutput is the output of com.atproto.repo.describeRepo.
type RepoDescribeRepoOutput struct {
	Handle          string          `json:"handle"`
	DID             string          `json:"did"`
	DIDDoc          json.RawMessage `json:"didDoc"`
	Collections     []string        `json:"collections"`
	HandleIsCorrect bool            `json:"handleIsCorrect"`
}

// IdentityResolveHandleOutput is the output of
// com.atproto.identity.resolveHandle.
type IdentityResolveHandleOutput struct {
	DID string `json:"did"`
}

// ServerCreateSessionInput is the input of com.atproto.server.createSession.
type ServerCreateSessionInput struct {
	Identifier      string `json:"identifier"`
	Password        string `json:"password"`
	AuthFactorToken string `json:"authFactorToken,omitempty"`
	AllowTakendown  *bool  `json:"allowTakendown,omitempty"`
}

// ServerCreateSessionOutput is the output of com.atproto.server.createSession.
type ServerCreateSessionOutput struct {
	AccessJwt       string          `json:"accessJwt"`
	RefreshJwt      string          `json:"refreshJwt"`
	Handle          string          `json:"handle"`
	DID             string          `json:"did"`
	DIDDoc          json.RawMessage `json:"didDoc,omitempty"`
	Email           string          `json:"email,omitempty"`
	EmailConfirmed  *bool           `json:"emailConfirmed,omitempty"`
	EmailAuthFactor *bool           `json:"emailAuthFactor,omitempty"`
	Active          *bool           `json:"active,omitempty"`
	Status          string          `json:"status,omitempty"`
}

// ServerCreateAccountInput is the input of com.atproto.server.createAccount.
type ServerCreateAccountInput struct {
	Email             string          `json:"email,omitempty"`
	Handle            string          `json:"handle"`
	DID               string          `json:"did,omitempty"`
	InviteCode        string          `json:"inviteCode,omitempty"`
	VerificationCode  string          `json:"verificationCode,omitempty"`
	VerificationPhone string          `json:"verificationPhone,omitempty"`
	Password          string          `json:"password,omitempty"`
	RecoveryKey       string          `json:"recoveryKey,omitempty"`
	PlcOp             json.RawMessage `json:"plcOp,omitempty"`
}

// ServerCreateAccountOutput is the output of com.atproto.server.createAccount.
type ServerCreateAccountOutput struct {
	AccessJwt  string          `json:"accessJwt"`
	RefreshJwt string          `json:"refreshJwt"`
	Handle     string          `json:"handle"`
	DID        string          `json:"did"`
	DIDDoc     json.RawMessage `json:"didDoc,omitempty"`
}

// ServerDescribeServerOutput is the output of
// com.atproto.server.describeServer.
type ServerDescribeServerOutput struct {
	InviteCodeRequired        *bool          `json:"inviteCodeRequired,omitempty"`
	PhoneVerificationRequired *bool          `json:"phoneVerificationRequired,omitempty"`
	AvailableUserDomains      []string       `json:"availableUserDomains"`
	Links                     *ServerLinks   `json:"links,omitempty"`
	Contact                   *ServerContact `json:"contact,omitempty"`
	DID                       string         `json:"did"`
}

// ServerLinks are a server's policy links.
type ServerLinks struct {
	PrivacyPolicy  string `json:"privacyPolicy,omitempty"`
	TermsOfService string `json:"termsOfService,omitempty"`
}

// ServerContact is a server's contact information.
type ServerContact struct {
	Email string `json:"email,omitempty"`
}

// SyncGetLatestCommitOutput is the output of com.atproto.sync.getLatestCommit.
type SyncGetLatestCommitOutput struct {
	CID string `json:"cid"`
	Rev string `json:"rev"`
}

// SyncGetRepoStatusOutput is the output of com.atproto.sync.getRepoStatus.
type SyncGetRepoStatusOutput struct {
	DID    string `json:"did"`
	Active bool   `json:"active"`
	Status string `json:"status,omitempty"`
	Rev    string `json:"rev,omitempty"`
}

// SyncListReposOutput is the output of com.atproto.sync.listRepos.
type SyncListReposOutput struct {
	Cursor string     `json:"cursor,omitempty"`
	Repos  []SyncRepo `json:"repos"`
}

// SyncRepo is one repository of listRepos.
type SyncRepo struct {
	DID    string `json:"did"`
	Head   string `json:"head"`
	Rev    string `json:"rev"`
	Active *bool  `json:"active,omitempty"`
	Status string `json:"status,omitempty"`
}

// SyncListHostsOutput is the output of com.atproto.sync.listHosts.
type SyncListHostsOutput struct {
	Cursor string     `json:"cursor,omitempty"`
	Hosts  []SyncHost `json:"hosts"`
}

// SyncHost is one upstream host of listHosts, and the output of
// com.atproto.sync.getHostStatus.
type SyncHost struct {
	Hostname     string `json:"hostname"`
	Seq          *int64 `json:"seq,omitempty"`
	AccountCount *int64 `json:"accountCount,omitempty"`
	Status       string `json:"status,omitempty"`
}

// SyncRequestCrawlInput is the input of com.atproto.sync.requestCrawl.
type SyncRequestCrawlInput struct {
	Hostname string `json:"hostname"`
}
