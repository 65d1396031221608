package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// devURLs are the addresses `conflux dev` printed.
type devURLs struct {
	dashboard, appview, feedgen string
}

// startDev runs `conflux dev` on free ports until the test ends and returns
// the URLs it printed.
func startDev(t *testing.T) devURLs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--data", t.TempDir(), "--port-base", "0", "--users", "3",
			"--rate", "20", "--status-every", "1s"}, noEnv, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev returned %v\nstderr:\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not shut down")
		}
	})
	var u devURLs
	waitFor(t, "the dev URLs", func() bool {
		for _, line := range strings.Split(stdout.String(), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			switch fields[0] {
			case "dashboard":
				u.dashboard = strings.TrimSuffix(fields[1], "/")
			case "appview":
				u.appview = fields[1]
			case "feedgen":
				u.feedgen = fields[1]
			}
		}
		return u.dashboard != "" && u.appview != "" && u.feedgen != ""
	})
	return u
}

func getJSON(t *testing.T, u string, out any) bool {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(out) == nil
}

func postJSON(t *testing.T, u string, in, out any) {
	t.Helper()
	body, _ := json.Marshal(in)
	resp, err := http.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s: %s", u, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %v", u, err)
		}
	}
}

func fetchState(t *testing.T, u devURLs) dashState {
	t.Helper()
	var st dashState
	if !getJSON(t, u.dashboard+"/api/state", &st) {
		t.Fatal("GET /api/state failed")
	}
	return st
}

func (st dashState) post(uri string) (dashPost, bool) {
	for _, p := range st.Posts {
		if p.URI == uri {
			return p, true
		}
	}
	return dashPost{}, false
}

func (st dashState) stage(name string) dashStage {
	for _, s := range st.Stages {
		if s.Name == name {
			return s
		}
	}
	return dashStage{}
}

// inAuthorFeed says whether the appview's getAuthorFeed of the dashboard
// account lists uri.
func inAuthorFeed(t *testing.T, u devURLs, uri string) bool {
	var out struct {
		Feed []struct {
			Post struct {
				URI string `json:"uri"`
			} `json:"post"`
		} `json:"feed"`
	}
	if !getJSON(t, u.appview+"/xrpc/app.bsky.feed.getAuthorFeed?actor="+dashboardHandle, &out) {
		return false
	}
	for _, it := range out.Feed {
		if it.Post.URI == uri {
			return true
		}
	}
	return false
}

// inSkeleton says whether the named dev feed's skeleton lists uri.
func inSkeleton(t *testing.T, u devURLs, feed, uri string) bool {
	var out struct {
		Feed []struct {
			Post string `json:"post"`
		} `json:"feed"`
	}
	feedURI := "at://" + devPublisherDID + "/app.bsky.feed.generator/" + feed
	if !getJSON(t, u.feedgen+"/xrpc/app.bsky.feed.getFeedSkeleton?limit=100&feed="+url.QueryEscape(feedURI), &out) {
		return false
	}
	for _, it := range out.Feed {
		if it.Post == uri {
			return true
		}
	}
	return false
}

// TestDashboardPostFansOut posts through the dashboard's API and follows the
// post to the relay, the appview and the japanese feed; then pauses that
// feed and checks that its cursor stays put until it is resumed.
func TestDashboardPostFansOut(t *testing.T) {
	t.Parallel()
	u := startDev(t)

	var page bytes.Buffer
	resp, err := http.Get(u.dashboard + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(&page, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(page.String(), "app.js") {
		t.Fatalf("GET /: %s %q", resp.Status, page.String())
	}

	var posted dashPost
	postJSON(t, u.dashboard+"/api/post", dashPostInput{Text: "こんにちは from the dashboard"}, &posted)
	if !strings.HasPrefix(posted.URI, "at://") || len(posted.Langs) != 1 || posted.Langs[0] != "ja" {
		t.Fatalf("posted %+v", posted)
	}
	hops := []string{"host a", "relay", "appview", "feed japanese"}
	waitFor(t, "the post's hops "+strings.Join(hops, ", "), func() bool {
		p, ok := fetchState(t, u).post(posted.URI)
		if !ok {
			t.Fatalf("state lost post %s", posted.URI)
		}
		for _, h := range hops {
			if !p.reached(h) {
				return false
			}
		}
		return true
	})
	if !inAuthorFeed(t, u, posted.URI) {
		t.Fatal("the dashboard reports the appview hop but getAuthorFeed lacks the post")
	}
	if !inSkeleton(t, u, "japanese", posted.URI) {
		t.Fatal("the dashboard reports the feed hop but the japanese skeleton lacks the post")
	}
	// Japanese and without a picture: no other feed keeps it.
	if p, _ := fetchState(t, u).post(posted.URI); p.reached("feed cats") || p.reached("feed pictures") {
		t.Fatalf("hops %+v include a feed that does not match", p.Hops)
	}

	// Pause the japanese feed; its cursor stays while the relay goes on.
	const feed = "feed japanese"
	postJSON(t, u.dashboard+"/api/pause?consumer="+url.QueryEscape(feed), nil, nil)
	waitFor(t, "the paused consumer to stop", func() bool {
		s := fetchState(t, u).stage(feed)
		return s.Paused && !s.Running
	})
	stopped := fetchState(t, u).stage(feed).Seq
	var second dashPost
	postJSON(t, u.dashboard+"/api/post", dashPostInput{Text: "さようなら while paused"}, &second)
	waitFor(t, "the second post in the appview", func() bool {
		p, _ := fetchState(t, u).post(second.URI)
		return p.reached("relay") && p.reached("appview")
	})
	st := fetchState(t, u)
	if s := st.stage(feed); s.Seq != stopped || !s.Paused {
		t.Fatalf("paused feed moved: cursor %d, was %d (paused=%v)", s.Seq, stopped, s.Paused)
	}
	relaySeq := int64(0)
	if p, _ := st.post(second.URI); len(p.Hops) > 1 {
		for _, h := range p.Hops {
			if h.Stage == "relay" {
				relaySeq = h.Seq
			}
		}
	}
	if relaySeq <= stopped {
		t.Fatalf("second post at relay seq %d, not after the paused cursor %d", relaySeq, stopped)
	}
	if inSkeleton(t, u, "japanese", second.URI) {
		t.Fatal("the paused feed indexed a post")
	}

	// Resume: the feed catches up from its stored cursor.
	postJSON(t, u.dashboard+"/api/resume?consumer="+url.QueryEscape(feed), nil, nil)
	waitFor(t, "the resumed feed to pass the second post", func() bool {
		s := fetchState(t, u).stage(feed)
		return !s.Paused && s.Seq >= relaySeq
	})
	waitFor(t, "the second post in the japanese feed", func() bool { return inSkeleton(t, u, "japanese", second.URI) })
	if p, _ := fetchState(t, u).post(second.URI); !p.reached(feed) {
		// The follower polls; give it a moment to see what the skeleton has.
		waitFor(t, "the dashboard to report the feed hop", func() bool {
			p, _ := fetchState(t, u).post(second.URI)
			return p.reached(feed)
		})
	}

	// The appview pauses the same way: the relay takes a third post, the
	// paused appview does not, and after resume it catches up.
	postJSON(t, u.dashboard+"/api/pause?consumer=appview", nil, nil)
	waitFor(t, "the paused appview to stop", func() bool {
		s := fetchState(t, u).stage("appview")
		return s.Paused && !s.Running
	})
	avStopped := fetchState(t, u).stage("appview").Seq
	var third dashPost
	postJSON(t, u.dashboard+"/api/post", dashPostInput{Text: "posted while the appview sleeps"}, &third)
	waitFor(t, "the third post at the relay", func() bool {
		p, _ := fetchState(t, u).post(third.URI)
		return p.reached("relay")
	})
	if s := fetchState(t, u).stage("appview"); s.Seq != avStopped {
		t.Fatalf("paused appview moved: cursor %d, was %d", s.Seq, avStopped)
	}
	if p, _ := fetchState(t, u).post(third.URI); p.reached("appview") {
		t.Fatal("the paused appview indexed a post")
	}
	postJSON(t, u.dashboard+"/api/resume?consumer=appview", nil, nil)
	waitFor(t, "the resumed appview to show the third post", func() bool {
		p, _ := fetchState(t, u).post(third.URI)
		return p.reached("appview") && fetchState(t, u).stage("appview").Seq > avStopped
	})
}

// chromiumPath finds Debian's chromium. Without it the browser test skips,
// except under CI (CI=true), where .ci/run installs it and its absence fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run installs it")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	return ""
}

// cdpPage drives one browser page over the Chrome DevTools protocol.
type cdpPage struct {
	conn *websocket.Conn
	id   int
}

// startBrowser runs headless chromium on pageURL and connects to the page.
func startBrowser(t *testing.T, pageURL string) *cdpPage {
	t.Helper()
	bin := chromiumPath(t)
	// Chromium forks helpers that keep writing to the profile after the
	// browser process dies: run it in its own process group, kill the group,
	// and remove the profile ourselves (t.TempDir would fail the test if a
	// straggler wrote a file during its clean-up).
	profile, err := os.MkdirTemp("", "conflux-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--no-default-browser-check",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", pageURL)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	// Chromium prints its browser endpoint; the page's endpoint is listed
	// under /json/list on the same port.
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, ws, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
				found <- ws
			}
		}
	}()
	var browserWS string
	select {
	case browserWS = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not report its DevTools endpoint")
	}
	host := strings.TrimPrefix(browserWS, "ws://")
	host = host[:strings.Index(host, "/")]
	var pageWS string
	waitFor(t, "the page target", func() bool {
		var targets []struct {
			Type, URL            string
			WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
		}
		if !getJSON(t, "http://"+host+"/json/list", &targets) {
			return false
		}
		for _, tg := range targets {
			if tg.Type == "page" && strings.HasPrefix(tg.URL, pageURL) {
				pageWS = tg.WebSocketDebuggerURL
				return true
			}
		}
		return false
	})
	conn, _, err := websocket.DefaultDialer.Dial(pageWS, nil)
	if err != nil {
		t.Fatalf("connect to the page: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &cdpPage{conn: conn}
}

// eval evaluates a JavaScript expression in the page and decodes its
// JSON-able value into out.
func (p *cdpPage) eval(t *testing.T, expr string, out any) {
	t.Helper()
	p.id++
	msg := map[string]any{"id": p.id, "method": "Runtime.evaluate",
		"params": map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}}
	if err := p.conn.WriteJSON(msg); err != nil {
		t.Fatalf("DevTools: %v", err)
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var resp struct {
			ID     int `json:"id"`
			Result struct {
				Result struct {
					Value json.RawMessage `json:"value"`
				} `json:"result"`
				ExceptionDetails *struct {
					Text string `json:"text"`
				} `json:"exceptionDetails"`
			} `json:"result"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := p.conn.ReadJSON(&resp); err != nil {
			t.Fatalf("DevTools: %v", err)
		}
		if resp.ID != p.id {
			continue // an event
		}
		if resp.Error != nil {
			t.Fatalf("DevTools: %s", resp.Error.Message)
		}
		if e := resp.Result.ExceptionDetails; e != nil {
			t.Fatalf("page: %s in %s", e.Text, expr)
		}
		if out != nil {
			if err := json.Unmarshal(resp.Result.Result.Value, out); err != nil {
				t.Fatalf("page value %s: %v", resp.Result.Result.Value, err)
			}
		}
		return
	}
}

// TestDashboardInBrowser opens the dashboard in headless chromium, posts
// through the page's box, and checks that the page shows every hop and that
// the appview and the japanese feed have the post.
func TestDashboardInBrowser(t *testing.T) {
	chromiumPath(t)
	t.Parallel()
	u := startDev(t)
	page := startBrowser(t, u.dashboard+"/")

	waitFor(t, "the page to show the stages", func() bool {
		var ready bool
		page.eval(t, `document.readyState === "complete" && document.querySelectorAll("#stages tbody tr").length > 0`, &ready)
		return ready
	})
	text := fmt.Sprintf("こんにちは from a browser %d", time.Now().UnixNano())
	page.eval(t, fmt.Sprintf(`(() => {
		document.querySelector("#post-text").value = %q;
		document.querySelector("#post-button").click();
		return true;
	})()`, text), nil)

	type shown struct {
		URI     string   `json:"uri"`
		Reached []string `json:"reached"`
	}
	var got shown
	hops := []string{"host a", "relay", "appview", "feed japanese"}
	waitFor(t, "the page to show the post's hops", func() bool {
		page.eval(t, fmt.Sprintf(`(() => {
			const p = [...document.querySelectorAll(".post")].find((e) => e.textContent.includes(%q));
			if (!p) return {uri: "", reached: []};
			return {uri: p.dataset.uri,
				reached: [...p.querySelectorAll(".hop.reached")].map((h) => h.dataset.hop)};
		})()`, text), &got)
		for _, h := range hops {
			found := false
			for _, r := range got.Reached {
				found = found || r == h
			}
			if !found {
				return false
			}
		}
		return true
	})
	if !inAuthorFeed(t, u, got.URI) {
		t.Fatalf("the page shows the appview hop but getAuthorFeed lacks %s", got.URI)
	}
	if !inSkeleton(t, u, "japanese", got.URI) {
		t.Fatalf("the page shows the feed hop but the japanese skeleton lacks %s", got.URI)
	}

	// The page's pause button stops the feed's consumer; resume restarts it.
	const feed = "feed japanese"
	click := fmt.Sprintf(`(() => {
		const b = document.querySelector('button.toggle[data-consumer=%q]');
		if (!b) return "";
		const label = b.textContent;
		b.click();
		return label;
	})()`, feed)
	var label string
	page.eval(t, click, &label)
	if label != "pause" {
		t.Fatalf("the %s button says %q, want pause", feed, label)
	}
	waitFor(t, "the page to show the feed paused", func() bool {
		var paused bool
		page.eval(t, fmt.Sprintf(`!!document.querySelector('tr[data-stage=%q] .paused')`, feed), &paused)
		s := fetchState(t, u).stage(feed)
		return paused && s.Paused && !s.Running
	})
	page.eval(t, click, &label)
	if label != "resume" {
		t.Fatalf("the %s button says %q, want resume", feed, label)
	}
	waitFor(t, "the page to show the feed running", func() bool {
		var paused bool
		page.eval(t, fmt.Sprintf(`!!document.querySelector('tr[data-stage=%q] .paused')`, feed), &paused)
		s := fetchState(t, u).stage(feed)
		return !paused && !s.Paused && s.Running
	})
}
