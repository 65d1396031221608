package synth

// Bounds on the model, so a driver running for hours keeps constant memory.
// Past them a random entry is forgotten: the record stays in the repository
// but the driver no longer targets or deletes it.
const (
	maxPool  = 50_000 // posts anyone may reply to, quote, like or repost
	maxOwned = 2_000  // per user and kind: own posts, likes, reposts, follows
)

// keyedSet is a set with O(1) add, remove by key and uniform random pick:
// a slice for picking and a key-to-index map for removing (by swapping in
// the last element). Only the planner touches it, so the order of items,
// and hence every pick, is deterministic.
type keyedSet[T any] struct {
	items []keyed[T]
	index map[string]int
}

type keyed[T any] struct {
	key string
	v   T
}

func (s *keyedSet[T]) len() int { return len(s.items) }

// add inserts v under key (replacing an existing entry). When the set is
// over limit it forgets a random entry first and returns it.
func (s *keyedSet[T]) add(g *gen, limit int, key string, v T) (forgot keyed[T], ok bool) {
	if s.index == nil {
		s.index = make(map[string]int)
	}
	if i, exists := s.index[key]; exists {
		s.items[i].v = v
		return forgot, false
	}
	if len(s.items) >= limit {
		forgot = s.items[g.rng.IntN(len(s.items))]
		s.remove(forgot.key)
		ok = true
	}
	s.index[key] = len(s.items)
	s.items = append(s.items, keyed[T]{key, v})
	return forgot, ok
}

func (s *keyedSet[T]) remove(key string) (T, bool) {
	i, ok := s.index[key]
	if !ok {
		var zero T
		return zero, false
	}
	v := s.items[i].v
	last := len(s.items) - 1
	s.items[i] = s.items[last]
	s.index[s.items[i].key] = i
	s.items[last] = keyed[T]{}
	s.items = s.items[:last]
	delete(s.index, key)
	return v, true
}

func (s *keyedSet[T]) random(g *gen) keyed[T] { return s.items[g.rng.IntN(len(s.items))] }

// poolPost is a post others can interact with, keyed by its URI.
type poolPost struct {
	ref    strongRef
	root   strongRef // the thread root if the post is a reply; else undefined
	author int
}

// threadRoot is the root a reply to p must name.
func (p poolPost) threadRoot() strongRef {
	if p.root.URI != "" {
		return p.root
	}
	return p.ref
}

// owned is one of a user's own records, keyed by its rkey.
type owned struct {
	subject string // a like's or repost's post URI
	target  int    // a follow's user index
}

// profileState is what the driver knows about a user's profile record.
type profileState uint8

const (
	profileNone    profileState = iota // a new account: no profile yet
	profileUnknown                     // a reused account: maybe
	profileExists
)

// userModel is what the driver believes exists in one user's repository.
type userModel struct {
	did, handle string
	lang        *language
	profile     profileState
	posts       keyedSet[struct{}] // rkeys of own posts
	likes       keyedSet[owned]
	reposts     keyedSet[owned]
	follows     keyedSet[owned]
	liked       map[string]bool // post URIs this user has liked
	reposted    map[string]bool
	following   map[int]bool // users this user follows
}

func newUserModel(did, handle string, lang *language, p profileState) *userModel {
	return &userModel{
		did: did, handle: handle, lang: lang, profile: p,
		liked: map[string]bool{}, reposted: map[string]bool{}, following: map[int]bool{},
	}
}

func (u *userModel) person() person { return person{handle: u.handle, did: u.did} }

// deletable counts the records a delete can pick from.
func (u *userModel) deletable() int {
	return u.posts.len() + u.likes.len() + u.reposts.len() + u.follows.len()
}
