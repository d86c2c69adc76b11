package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// page sends a dashboard request with a session cookie holding secret
// (none when "") and a form body (a POST when form is not nil), without
// following redirects, and returns the response and its body.
func (ts *testServer) page(t *testing.T, method, path, secret string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if secret != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: secret})
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := *ts.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func wantStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		what := "the response"
		if resp.Request != nil {
			what = resp.Request.Method + " " + resp.Request.URL.Path
		}
		t.Fatalf("%s: status %d, want %d; body:\n%s", what, resp.StatusCode, want, body)
	}
}

func wantContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
}

func wantLacks(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Errorf("the page holds %q", s)
		}
	}
}

// execTask is a task to submit through the store.
func execTask(name, queue string) db.NewTask {
	return db.NewTask{Type: "exec", Name: name, Queue: queue, Input: json.RawMessage(`{"command":["true"]}`)}
}

// taskStatus reads a task's status from the store.
func (ts *testServer) taskStatus(t *testing.T, id int64) db.Status {
	t.Helper()
	task, err := ts.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return task.Status
}

// failedTask stores a task that ran once and failed, and returns its id.
func (ts *testServer) failedTask(t *testing.T, name string) int64 {
	t.Helper()
	id := ts.submit(t, execTask(name, "default"))
	for _, task := range ts.claim(t, 10) {
		if task.ID == id {
			ts.finish(t, task, db.StatusFailed, "exit status 3")
			return id
		}
	}
	t.Fatalf("task %d was not claimed", id)
	return 0
}

func TestDashboardLoginSetsSessionCookie(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)

	resp, body := ts.page(t, "GET", "/login?next=/stats", "", nil)
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, `name="token"`, `<label for="token">`, `value="/stats"`)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}

	resp, body = ts.page(t, "POST", "/login", "", url.Values{"token": {ts.Read}, "next": {"/stats"}})
	wantStatus(t, resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/stats" {
		t.Errorf("Location = %q, want /stats", loc)
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == SessionCookie {
			c = k
		}
	}
	switch {
	case c == nil:
		t.Fatalf("no %s cookie; Set-Cookie: %q", SessionCookie, resp.Header.Values("Set-Cookie"))
	case c.Value != ts.Read:
		t.Errorf("the cookie holds %q, want the token", c.Value)
	case !c.HttpOnly:
		t.Error("the cookie is not HttpOnly")
	case c.SameSite != http.SameSiteStrictMode:
		t.Errorf("SameSite = %v, want Strict", c.SameSite)
	case c.Path != "/":
		t.Errorf("Path = %q, want /", c.Path)
	case c.Secure:
		t.Error("the cookie is Secure on a plain HTTP request")
	}

	// The cookie opens the pages; logging out clears it.
	resp, body = ts.page(t, "GET", "/stats", ts.Read, nil)
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, "reader", `action="/logout"`)
	resp, body = ts.page(t, "POST", "/logout", ts.Read, url.Values{})
	wantStatus(t, resp, body, http.StatusSeeOther)
	if len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 || resp.Cookies()[0].Value != "" {
		t.Errorf("logout set %q, want the cookie cleared", resp.Header.Values("Set-Cookie"))
	}

	// A wrong token, or none, is refused with a message and no cookie.
	for _, tok := range []string{"opsctl_wrong", "not-a-token", ""} {
		resp, body = ts.page(t, "POST", "/login", "", url.Values{"token": {tok}})
		wantStatus(t, resp, body, http.StatusUnauthorized)
		wantContains(t, body, `role="alert"`)
		if len(resp.Cookies()) != 0 {
			t.Errorf("token %q: a failed login set %q", tok, resp.Header.Values("Set-Cookie"))
		}
	}

	// The next page must be on this server.
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
		resp, _ := ts.page(t, "POST", "/login", "", url.Values{"token": {ts.Read}, "next": {next}})
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("next %q: Location = %q, want /", next, loc)
		}
	}

	// Over TLS the cookie is Secure as well.
	req := httptest.NewRequest("POST", "https://localhost/login", strings.NewReader(url.Values{"token": {ts.Read}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	ts.Handler().ServeHTTP(rec, req)
	if cs := rec.Result().Cookies(); rec.Code != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Errorf("login over TLS: status %d, cookies %q; want one Secure HttpOnly cookie", rec.Code, rec.Header().Values("Set-Cookie"))
	}

	// A login form posted from another site is refused.
	resp, body = ts.page(t, "POST", "/login", "", url.Values{"token": {ts.Read}}, "Sec-Fetch-Site", "cross-site")
	wantStatus(t, resp, body, http.StatusForbidden)
}

func TestDashboardPagesNeedSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.failedTask(t, "needs-login")
	for _, path := range []string{"/", "/tasks?status=failed", "/tasks/" + strconv.FormatInt(id, 10), "/stats", "/nowhere"} {
		for _, secret := range []string{"", "opsctl_revoked-or-wrong"} {
			resp, body := ts.page(t, "GET", path, secret, nil)
			wantStatus(t, resp, body, http.StatusSeeOther)
			want := "/login?next=" + url.QueryEscape(path)
			if loc := resp.Header.Get("Location"); loc != want {
				t.Errorf("GET %s: Location = %q, want %q", path, loc, want)
			}
		}
	}
	// A write without a session changes nothing.
	resp, body := ts.page(t, "POST", fmt.Sprintf("/tasks/%d/retry", id), "", url.Values{})
	wantStatus(t, resp, body, http.StatusSeeOther)
	if st := ts.taskStatus(t, id); st != db.StatusFailed {
		t.Errorf("status %s after a retry without a session, want failed", st)
	}
	// The static files need no session.
	resp, body = ts.page(t, "GET", "/static/app.js", "", nil)
	wantStatus(t, resp, body, http.StatusOK)
}

func TestDashboardNotFound(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, path := range []string{"/tasks/424242", "/tasks/abc", "/no/such/page"} {
		resp, body := ts.page(t, "GET", path, ts.Read, nil)
		wantStatus(t, resp, body, http.StatusNotFound)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q, want an HTML page", path, ct)
		}
		wantContains(t, body, "404 Not Found", `href="/tasks"`)
	}
	// The API keeps its problem+json.
	resp, _ := ts.do(t, "GET", "/api/v1/tasks/424242", ts.Read, "")
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("API Content-Type %q", ct)
	}
}

func TestDashboardStaticFiles(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, body := ts.page(t, "GET", "/login", "", nil)
	m := regexp.MustCompile(`src="(/static/app\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the page does not load app.js")
	}
	resp, js := ts.page(t, "GET", m[1], "", nil)
	wantStatus(t, resp, js, http.StatusOK)
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control %q for a versioned file", cc)
	}
	wantContains(t, js, "EventSource")
	// Nothing on the pages comes from elsewhere.
	wantLacks(t, body, "http://", "https://")
}

func TestDashboardFormatting(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string
	}{
		{"plain\ttext\n", "plain\ttext\n"},
		{"\x1b[1;31mred\x1b[0m", "red"},
		{"a\r\nb\rc", "a\nb\\rc"},
		{"\x1b]0;t\x07", `\x1b]0;t\a`},
		{"bad \xff byte, c1 \u009b", `bad \xff byte, c1 \u009b`},
		{"ünïcode ✓", "ünïcode ✓"},
	} {
		if got := displayText(c.in); got != c.want {
			t.Errorf("displayText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for in, want := range map[string]string{"/tasks?q=1": "/tasks?q=1", "": "/", "//x": "/", "https://x/": "/", "/login": "/", "tasks": "/"} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := countLabel(CountCap, true); got != "10,000+" {
		t.Errorf("countLabel = %q", got)
	}
	for d, want := range map[time.Duration]string{3 * time.Minute: "3m ago", -2 * time.Hour: "in 2h", 0: "just now", 50 * time.Hour: "2d ago"} {
		if got := taskio.Relative(d); got != want {
			t.Errorf("relTime(%s) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{850 * time.Millisecond: "850ms", 12300 * time.Millisecond: "12.3s", 245 * time.Second: "4m 05s", 123 * time.Minute: "2h 03m"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
