package synth

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/conflux-atproto/conflux/repo"
	"github.com/conflux-atproto/conflux/repo/cid"
	"github.com/conflux-atproto/conflux/repo/dagcbor"
	"github.com/conflux-atproto/conflux/repo/syntax"
)

// action is one planned commit: a single write, after uploading its blobs.
type action struct {
	kind   Kind
	user   int
	did    string
	write  Write
	blobs  []blobData
	expect Result // the URI and CID the host must report (zero for a delete)
	// createIfMissing: an update of a reused account's profile, which may
	// not exist yet; on ErrNotFound the worker creates it instead.
	createIfMissing bool
}

// tidClock issues record keys: TIDs from Now, strictly increasing even when
// Now stands still (a fixed test clock) or steps back.
type tidClock struct {
	now     func() time.Time
	clockID uint
	last    int64
}

func (c *tidClock) next() string {
	us := max(c.now().UnixMicro(), c.last+1)
	c.last = us
	return string(syntax.NewTID(us, c.clockID))
}

// languageWeights is the share of users writing mainly in each language,
// in the order of languages: English first, then a long tail.
var languageWeights = []int{45, 15, 15, 7, 8, 5, 5}

func (g *gen) language() *language {
	total := 0
	for _, w := range languageWeights {
		total += w
	}
	n := g.rng.IntN(total)
	for i, w := range languageWeights {
		if n < w {
			return &languages[i]
		}
		n -= w
	}
	return &languages[0]
}

// userPicker returns a function that picks the acting user. Activity is
// skewed as on the real network (a Zipf law: a few users act much more
// often than most) but gently, so every user still acts.
func (g *gen) userPicker(n int) func() int {
	if n == 1 {
		return func() int { return 0 }
	}
	z := rand.NewZipf(g.rng, 1.1, 8, uint64(n-1))
	return func() int { return int(z.Uint64()) }
}

// plan decides the next action and updates the model as if it succeeded.
func (d *Driver) plan() *action {
	ui := d.zipf()
	u := d.users[ui]
	now := datetime(d.cfg.Now())
	if u.profile == profileNone { // a new user's first act is to fill in a profile
		return d.planProfile(ui, now)
	}
	kind := d.pickKind()
	switch kind {
	case KindReply, KindQuote:
		if d.pool.len() > 0 {
			return d.planPost(ui, kind, now)
		}
	case KindLike, KindRepost:
		if a := d.planLikeOrRepost(ui, kind, now); a != nil {
			return a
		}
	case KindFollow:
		if a := d.planFollow(ui, now); a != nil {
			return a
		}
	case KindProfile:
		return d.planProfile(ui, now)
	case KindDeletePost:
		if u.deletable() > 0 {
			return d.planDelete(ui)
		}
	}
	return d.planPost(ui, KindPost, now)
}

func (d *Driver) pickKind() Kind {
	w := d.cfg.Mix.weights()
	total := 0
	for _, x := range w {
		total += x
	}
	n := d.gen.rng.IntN(total)
	for i, x := range w {
		if n < x {
			return mixKinds[i]
		}
		n -= x
	}
	return KindPost
}

// create makes the action for creating rec in u's repo under a new TID, with
// the URI and CID the host must answer.
func (d *Driver) create(ui int, kind Kind, collection, rkey string, rec map[string]any, blobs []blobData) *action {
	u := d.users[ui]
	if rkey == "" {
		rkey = d.tid.next()
	}
	return &action{
		kind: kind, user: ui, did: u.did, blobs: blobs,
		write:  Write{Action: repo.Create, Collection: collection, RKey: rkey, Value: rec},
		expect: Result{URI: recordURI(u.did, collection, rkey), CID: recordCID(rec)},
	}
}

func recordURI(did, collection, rkey string) string {
	return "at://" + did + "/" + collection + "/" + rkey
}

// recordCID is the CID a host will give rec. Records are built here from
// strings, int64s, CIDs, maps and slices only, so encoding cannot fail.
func recordCID(rec map[string]any) cid.CID {
	b, err := dagcbor.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("synth: generated record does not encode: %v", err))
	}
	return cid.Sum(cid.DagCBOR, b)
}

func (d *Driver) planPost(ui int, kind Kind, now string) *action {
	u := d.users[ui]
	spec := postSpec{lang: u.lang, createdAt: now}
	var root strongRef
	switch kind {
	case KindReply:
		parent := d.pool.random(d.gen).v
		root = parent.threadRoot()
		spec.reply = &[2]strongRef{root, parent.ref}
		if parent.author != ui { // replies often address the parent's author
			spec.mentions = append(spec.mentions, d.users[parent.author].person())
		}
	case KindQuote:
		q := d.pool.random(d.gen).v.ref
		spec.quote = &q
	}
	if len(d.users) > 1 {
		other := d.gen.rng.IntN(len(d.users) - 1)
		if other >= ui {
			other++
		}
		spec.mentions = append(spec.mentions, d.users[other].person())
	}
	rec, blobs := d.gen.post(spec)
	a := d.create(ui, kind, postNSID, "", rec, blobs)
	u.posts.add(d.gen, maxOwned, a.write.RKey, struct{}{})
	d.pool.add(d.gen, maxPool, a.expect.URI, poolPost{ref: strongRef(a.expect), root: root, author: ui})
	return a
}

// planLikeOrRepost likes or reposts a pool post the user has not already
// liked or reposted. It gives up (nil) after a few tries.
func (d *Driver) planLikeOrRepost(ui int, kind Kind, now string) *action {
	u := d.users[ui]
	done, mine, nsid := u.liked, &u.likes, likeNSID
	if kind == KindRepost {
		done, mine, nsid = u.reposted, &u.reposts, repostNSID
	}
	for range 3 {
		if d.pool.len() == 0 {
			return nil
		}
		p := d.pool.random(d.gen).v
		if done[p.ref.URI] || (kind == KindRepost && p.author == ui) {
			continue
		}
		var rec map[string]any
		if kind == KindLike {
			rec = d.gen.like(p.ref, now)
		} else {
			rec = d.gen.repost(p.ref, now)
		}
		a := d.create(ui, kind, nsid, "", rec, nil)
		done[p.ref.URI] = true
		if old, ok := mine.add(d.gen, maxOwned, a.write.RKey, owned{subject: p.ref.URI}); ok {
			delete(done, old.v.subject)
		}
		return a
	}
	return nil
}

// planFollow follows a user not yet followed; nil after a few tries.
func (d *Driver) planFollow(ui int, now string) *action {
	u := d.users[ui]
	if len(d.users) < 2 {
		return nil
	}
	for range 3 {
		t := d.gen.rng.IntN(len(d.users))
		if t == ui || u.following[t] {
			continue
		}
		a := d.create(ui, KindFollow, followNSID, "", d.gen.follow(d.users[t].did, now), nil)
		u.following[t] = true
		if old, ok := u.follows.add(d.gen, maxOwned, a.write.RKey, owned{target: t}); ok {
			delete(u.following, old.v.target)
		}
		return a
	}
	return nil
}

// planProfile creates the profile, or updates it once it exists. For a
// reused account (unknown state) it is an update that falls back to a
// create.
func (d *Driver) planProfile(ui int, now string) *action {
	u := d.users[ui]
	rec, blobs := d.gen.profile(u.lang, now)
	a := d.create(ui, KindProfile, profileNSID, profileRKey, rec, blobs)
	switch u.profile {
	case profileExists:
		a.write.Action = repo.Update
	case profileUnknown:
		a.write.Action = repo.Update
		a.createIfMissing = true
	}
	u.profile = profileExists
	return a
}

// planDelete deletes one of the user's records, picked uniformly among all
// of them, so the kind follows what the user has most of.
func (d *Driver) planDelete(ui int) *action {
	u := d.users[ui]
	n := d.gen.rng.IntN(u.deletable())
	a := &action{user: ui, did: u.did, write: Write{Action: repo.Delete}}
	switch {
	case n < u.posts.len():
		rkey := u.posts.random(d.gen).key
		u.posts.remove(rkey)
		uri := recordURI(u.did, postNSID, rkey)
		d.pool.remove(uri) // nothing planned from now on targets it
		a.kind, a.write.Collection, a.write.RKey = KindDeletePost, postNSID, rkey
	case n < u.posts.len()+u.likes.len():
		e := u.likes.random(d.gen)
		u.likes.remove(e.key)
		delete(u.liked, e.v.subject)
		a.kind, a.write.Collection, a.write.RKey = KindDeleteLike, likeNSID, e.key
	case n < u.posts.len()+u.likes.len()+u.reposts.len():
		e := u.reposts.random(d.gen)
		u.reposts.remove(e.key)
		delete(u.reposted, e.v.subject)
		a.kind, a.write.Collection, a.write.RKey = KindDeleteRepost, repostNSID, e.key
	default:
		e := u.follows.random(d.gen)
		u.follows.remove(e.key)
		delete(u.following, e.v.target)
		a.kind, a.write.Collection, a.write.RKey = KindDeleteFollow, followNSID, e.key
	}
	return a
}
