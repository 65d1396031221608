package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conflux-atproto/conflux/firehose"
	"github.com/conflux-atproto/conflux/firehose/consumer"
	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/repo/cid"
)

//go:embed dashboard
var dashboardFiles embed.FS

// dashboardHandle is the account on host a that the page's post box writes as.
const dashboardHandle = "dashboard.a.test"

// How many recent relay events and posts the page is shown, and how long a
// post is followed before the hops it has not reached count as "not matched".
const (
	dashRecentEvents = 40
	dashRecentPosts  = 10
	dashFollowFor    = 60 * time.Second
)

// dashEvent is one relay firehose event as the page shows it.
type dashEvent struct {
	Seq  int64    `json:"seq"`
	Type string   `json:"type"`
	Repo string   `json:"repo"`
	Ops  []string `json:"ops,omitempty"`
}

// dashHop is when a post reached one stage, in milliseconds since it was posted.
type dashHop struct {
	Stage string `json:"stage"`
	MS    int64  `json:"ms"`
	Seq   int64  `json:"seq,omitempty"`
}

// dashPost is a post made from the page and the hops it has reached.
type dashPost struct {
	URI     string    `json:"uri"`
	Rev     string    `json:"rev"`
	Text    string    `json:"text"`
	Langs   []string  `json:"langs"`
	HostSeq int64     `json:"hostSeq"`
	Hops    []dashHop `json:"hops"`
	Done    bool      `json:"done"` // no longer followed
	posted  time.Time
}

func (p *dashPost) reached(stage string) bool {
	for _, h := range p.Hops {
		if h.Stage == stage {
			return true
		}
	}
	return false
}

// dashStage is one row of the live counters.
type dashStage struct {
	Name     string `json:"name"`
	Seq      int64  `json:"seq"` // head seq of a log, or a consumer's cursor
	Lag      int64  `json:"lag"`
	Consumer bool   `json:"consumer"`
	Pausable bool   `json:"pausable"`
	Paused   bool   `json:"paused"`
	Running  bool   `json:"running"` // a consumer is running (false once a pause has taken effect)
}

// dashboard is the dev dashboard: the page, its JSON API, a tap on the
// relay's firehose and the followers of posts made from the page.
type dashboard struct {
	host      *pds.PDS
	did       string
	reg       prometheus.Gatherer
	relayHead func() int64
	relayWS   string
	avURL     string
	fgURL     string
	feedURIs  map[string]string // feed name -> feed URI
	cursors   []namedCursor
	runners   map[string]*feedRunner // by stage name
	client    *http.Client
	log       *slog.Logger

	mu     sync.Mutex
	recent []dashEvent // newest last
	posts  []*dashPost // newest last
	// own are the relay's latest commits of the page's account: the relay
	// may deliver a commit before post has recorded it.
	own []ownCommit
}

type ownCommit struct {
	rev string
	seq int64
	at  time.Time
}

type namedCursor struct {
	name   string
	cursor func() int64
}

// dashboardAccount returns the DID of the page's account on host, creating
// it on the first start.
func dashboardAccount(ctx context.Context, host *pds.PDS) (string, error) {
	if did, err := host.ResolveRepo(dashboardHandle); err == nil {
		return did, nil
	}
	a, err := host.CreateAccount(ctx, pds.CreateAccountInput{Handle: dashboardHandle})
	if err != nil {
		return "", fmt.Errorf("dashboard account: %w", err)
	}
	return a.DID, nil
}

// mount adds the page and its API to mux.
func (d *dashboard) mount(mux *http.ServeMux) {
	static, _ := fs.Sub(dashboardFiles, "dashboard") // the directory is embedded, so Sub cannot fail
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/state", d.serveState)
	mux.HandleFunc("POST /api/post", d.servePost)
	mux.HandleFunc("POST /api/pause", func(w http.ResponseWriter, r *http.Request) { d.serveToggle(w, r, true) })
	mux.HandleFunc("POST /api/resume", func(w http.ResponseWriter, r *http.Request) { d.serveToggle(w, r, false) })
}

// run taps the relay's firehose from the live tail and follows posts until
// ctx ends.
func (d *dashboard) run(ctx context.Context) error {
	tap, err := consumer.New(consumer.Config{
		URL: d.relayWS, Cursor: consumer.NoCursor, Logger: d.log.With("consumer", "dashboard"),
		Handler: consumer.HandlerFunc(func(_ context.Context, ev consumer.Event) error {
			d.observe(ev)
			return nil
		}),
	})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { d.follow(ctx) })
	defer wg.Wait()
	if err := tap.Run(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("dashboard tap: %w", err)
	}
	return nil
}

// observe records one relay event and marks the relay hop of a post whose
// commit it is.
func (d *dashboard) observe(ev consumer.Event) {
	e := dashEvent{Seq: ev.Seq, Type: ev.Frame.Type}
	var rev string
	switch m := ev.Frame.Msg.(type) {
	case *firehose.Commit:
		e.Repo, rev = m.Repo, m.Rev
		for _, op := range m.Ops {
			e.Ops = append(e.Ops, op.Action+" "+op.Path)
		}
	case *firehose.Sync:
		e.Repo = m.DID
	case *firehose.Identity:
		e.Repo = m.DID
	case *firehose.Account:
		e.Repo = m.DID
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recent = append(d.recent, e)
	if len(d.recent) > dashRecentEvents {
		d.recent = d.recent[len(d.recent)-dashRecentEvents:]
	}
	if e.Repo != d.did || rev == "" {
		return
	}
	d.own = append(d.own, ownCommit{rev: rev, seq: ev.Seq, at: time.Now()})
	if len(d.own) > dashRecentPosts {
		d.own = d.own[len(d.own)-dashRecentPosts:]
	}
	for _, p := range d.posts {
		if p.Rev == rev && !p.reached("relay") {
			p.Hops = append(p.Hops, dashHop{Stage: "relay", MS: time.Since(p.posted).Milliseconds(), Seq: ev.Seq})
		}
	}
}

// follow polls the appview and every feed for the posts still followed.
func (d *dashboard) follow(ctx context.Context) {
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d.mu.Lock()
		var pending []*dashPost
		for _, p := range d.posts {
			if !p.Done {
				pending = append(pending, p)
			}
		}
		d.mu.Unlock()
		for _, p := range pending {
			d.check(ctx, p)
		}
	}
}

// check looks for one post in the appview and in each feed it has not
// reached yet, recording the hops it finds.
func (d *dashboard) check(ctx context.Context, p *dashPost) {
	d.mu.Lock()
	stages := []string{}
	if !p.reached("appview") {
		stages = append(stages, "appview")
	}
	for name := range d.feedURIs {
		if !p.reached("feed " + name) {
			stages = append(stages, "feed "+name)
		}
	}
	d.mu.Unlock()
	for _, stage := range stages {
		var found bool
		if stage == "appview" {
			found = d.inAppview(ctx, p.URI)
		} else {
			found = d.inFeed(ctx, d.feedURIs[strings.TrimPrefix(stage, "feed ")], p.URI)
		}
		if found {
			d.mu.Lock()
			p.Hops = append(p.Hops, dashHop{Stage: stage, MS: time.Since(p.posted).Milliseconds()})
			d.mu.Unlock()
		}
	}
	d.mu.Lock()
	if len(p.Hops) == 3+len(d.feedURIs) || time.Since(p.posted) > dashFollowFor {
		p.Done = true
	}
	d.mu.Unlock()
}

func (d *dashboard) getJSON(ctx context.Context, u string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (d *dashboard) inAppview(ctx context.Context, uri string) bool {
	var out struct {
		Posts []struct {
			URI string `json:"uri"`
		} `json:"posts"`
	}
	err := d.getJSON(ctx, d.avURL+"/xrpc/app.bsky.feed.getPosts?uris="+url.QueryEscape(uri), &out)
	return err == nil && len(out.Posts) > 0 && out.Posts[0].URI == uri
}

func (d *dashboard) inFeed(ctx context.Context, feedURI, uri string) bool {
	var out struct {
		Feed []struct {
			Post string `json:"post"`
		} `json:"feed"`
	}
	if err := d.getJSON(ctx, d.fgURL+"/xrpc/app.bsky.feed.getFeedSkeleton?limit=100&feed="+url.QueryEscape(feedURI), &out); err != nil {
		return false
	}
	for _, it := range out.Feed {
		if it.Post == uri {
			return true
		}
	}
	return false
}

// dashState is what GET /api/state answers.
type dashState struct {
	Account string      `json:"account"`
	Stages  []dashStage `json:"stages"`
	Events  []dashEvent `json:"events"`
	Posts   []dashPost  `json:"posts"`
	Feeds   []string    `json:"feeds"`
}

func (d *dashboard) state() dashState {
	st := dashState{Account: dashboardHandle}
	heads := headSeqs(d.reg)
	for _, name := range sortedKeys(heads) {
		st.Stages = append(st.Stages, dashStage{Name: name, Seq: int64(heads[name])})
	}
	head := d.relayHead()
	for _, c := range d.cursors {
		cur := c.cursor()
		s := dashStage{Name: c.name, Seq: cur, Lag: max(head-cur, 0), Consumer: true}
		if r, ok := d.runners[c.name]; ok {
			s.Pausable = true
			s.Paused, s.Running = r.status()
		}
		st.Stages = append(st.Stages, s)
	}
	for name := range d.feedURIs {
		st.Feeds = append(st.Feeds, "feed "+name)
	}
	sort.Strings(st.Feeds)
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.recent) - 1; i >= 0; i-- {
		st.Events = append(st.Events, d.recent[i])
	}
	for i := len(d.posts) - 1; i >= 0; i-- {
		p := *d.posts[i]
		p.Hops = append([]dashHop(nil), p.Hops...)
		st.Posts = append(st.Posts, p)
	}
	return st
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (d *dashboard) serveState(w http.ResponseWriter, _ *http.Request) {
	writeDashJSON(w, http.StatusOK, d.state())
}

func writeDashJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func dashError(w http.ResponseWriter, status int, err error) {
	writeDashJSON(w, status, map[string]string{"error": err.Error()})
}

// dashPostInput is the body of POST /api/post.
type dashPostInput struct {
	Text  string   `json:"text"`
	Langs []string `json:"langs"`
}

func (d *dashboard) servePost(w http.ResponseWriter, r *http.Request) {
	var in dashPostInput
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&in); err != nil {
		dashError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	p, err := d.post(r.Context(), in)
	if err != nil {
		dashError(w, http.StatusBadRequest, err)
		return
	}
	writeDashJSON(w, http.StatusOK, p)
}

// post writes the text as an app.bsky.feed.post of the page's account and
// starts following it.
func (d *dashboard) post(ctx context.Context, in dashPostInput) (dashPost, error) {
	text := strings.TrimSpace(in.Text)
	if text == "" {
		return dashPost{}, errors.New("post: empty text")
	}
	langs := in.Langs
	if len(langs) == 0 {
		langs = []string{guessLang(text)}
	}
	rec := map[string]any{"text": text, "createdAt": nowDatetime(), "langs": toAny(langs)}
	start := time.Now()
	res, err := d.host.ApplyWrites(ctx, d.did, []pds.Write{{
		Action: "create", Collection: "app.bsky.feed.post", Value: rec, Validate: pds.ValidateOn,
	}}, cid.Undef)
	if err != nil {
		return dashPost{}, fmt.Errorf("post: %w", err)
	}
	p := &dashPost{URI: res.Results[0].URI, Rev: res.Rev, Text: text, Langs: langs, HostSeq: res.Seq, posted: start,
		Hops: []dashHop{{Stage: "host a", MS: time.Since(start).Milliseconds(), Seq: res.Seq}}}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.own {
		if c.rev == p.Rev {
			p.Hops = append(p.Hops, dashHop{Stage: "relay", MS: c.at.Sub(start).Milliseconds(), Seq: c.seq})
		}
	}
	d.posts = append(d.posts, p)
	if len(d.posts) > dashRecentPosts {
		d.posts = d.posts[len(d.posts)-dashRecentPosts:]
	}
	return *p, nil
}

// guessLang says "ja" for text with kana, which the japanese feed keeps,
// and "en" otherwise.
func guessLang(text string) string {
	for _, r := range text {
		if unicode.In(r, unicode.Hiragana, unicode.Katakana) {
			return "ja"
		}
	}
	return "en"
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (d *dashboard) serveToggle(w http.ResponseWriter, r *http.Request, pause bool) {
	name := r.URL.Query().Get("consumer")
	fr, ok := d.runners[name]
	if !ok {
		dashError(w, http.StatusNotFound, fmt.Errorf("no pausable consumer %q", name))
		return
	}
	if pause {
		fr.pause()
	} else {
		fr.resume()
	}
	writeDashJSON(w, http.StatusOK, map[string]any{"consumer": name, "paused": fr.isPaused()})
}

// feedRunner runs one feed's firehose consumer and can pause it: pausing
// stops the consumer (its durable cursor stays in the feed generator's
// store); resuming starts a new consumer, which reads that cursor and
// catches up. A Consumer runs only once, hence a new one each time.
type feedRunner struct {
	newConsumer func() (runnable, error)
	resumed     chan struct{}

	mu      sync.Mutex
	cur     runnable
	cancel  context.CancelFunc
	paused  bool
	running bool
	last    int64 // cursor of the consumers that have stopped
}

// runnable is a consumer the runner can start again after a pause: a
// *consumer.Consumer (made anew each time), or the AppView, whose Run reads
// its stored cursor each time it starts.
type runnable interface {
	Run(ctx context.Context) error
	Cursor() int64
}

func newFeedRunner(newConsumer func() (runnable, error)) *feedRunner {
	return &feedRunner{newConsumer: newConsumer, resumed: make(chan struct{}, 1)}
}

// Run runs consumers one after another until ctx ends or one fails.
func (r *feedRunner) Run(ctx context.Context) error {
	for {
		c, err := r.newConsumer()
		if err != nil {
			return err
		}
		cctx, cancel := context.WithCancel(ctx)
		r.mu.Lock()
		r.cur, r.cancel = c, cancel
		if r.paused { // paused before this consumer started
			cancel()
		}
		r.running = true
		r.mu.Unlock()
		err = c.Run(cctx)
		cancel()
		r.mu.Lock()
		r.running = false
		r.last = max(r.last, c.Cursor())
		r.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.resumed:
		}
	}
}

// Cursor is the last processed seq. A new consumer reports its configured
// start until Run has read the stored cursor, hence the max with the last.
func (r *feedRunner) Cursor() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return r.last
	}
	return max(r.last, r.cur.Cursor())
}

func (r *feedRunner) isPaused() bool {
	paused, _ := r.status()
	return paused
}

// status says whether a pause was asked for and whether a consumer runs.
func (r *feedRunner) status() (paused, running bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused, r.running
}

func (r *feedRunner) pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused {
		return
	}
	r.paused = true
	if r.cancel != nil {
		r.cancel()
	}
}

func (r *feedRunner) resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.paused {
		return
	}
	r.paused = false
	select {
	case r.resumed <- struct{}{}:
	default:
	}
}
