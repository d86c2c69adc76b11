package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

func TestDashboardTaskListTabsAndFilters(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ids := map[string]int64{}
	for _, nt := range []db.NewTask{execTask("build-alpha", "builds"), execTask("deploy-beta", "deploys"), execTask("build-gamma", "builds"),
		{Type: "agent", Name: "triage-delta", Queue: "agents", Input: json.RawMessage(`{"prompt":"look"}`)}} {
		ids[nt.Name] = ts.submit(t, nt)
	}
	for _, task := range ts.claim(t, 10) {
		switch task.Name {
		case "build-alpha":
			ts.finish(t, task, db.StatusCompleted, "")
		case "deploy-beta":
			ts.finish(t, task, db.StatusFailed, "exit status 1")
		case "triage-delta":
			out := db.Outcome{ID: task.ID, Worker: "w1", Attempt: task.Attempts, Status: db.StatusCompleted,
				Result: json.RawMessage(`{"answer":"ok","stop_reason":"answer","steps":2,"usage":{"input_tokens":1200,"output_tokens":34,"total_tokens":1234}}`)}
			if _, err := ts.store.Finish(context.Background(), nil, []db.Outcome{out}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids["queued-epsilon"] = ts.submit(t, execTask("queued-epsilon", "builds"))

	tab := func(body, key, count string) {
		t.Helper()
		re := regexp.MustCompile(`data-key="` + key + `"><a [^>]*>[A-Za-z]+ <span class="count">([^<]*)</span>`)
		m := re.FindStringSubmatch(body)
		if m == nil || m[1] != count {
			t.Errorf("tab %q: count %v, want %s", key, m, count)
		}
	}
	row := func(name string) string { return fmt.Sprintf(`<tr data-key="%d">`, ids[name]) }

	resp, body := ts.page(t, "GET", "/", ts.Read, nil)
	wantStatus(t, resp, body, http.StatusOK)
	tab(body, "", "5")
	tab(body, "pending", "1")
	tab(body, "running", "1")
	tab(body, "completed", "2")
	tab(body, "failed", "1")
	tab(body, "cancelled", "0")
	wantContains(t, body, row("build-alpha"), row("queued-epsilon"), "exit status 1", `data-follow="/api/v1/events/stream?kind=status"`)
	// The agent task's tokens, from its result.
	wantContains(t, body, `title="1,200 in, 34 out">1,234</td>`)
	// Newest first.
	if strings.Index(body, row("queued-epsilon")) > strings.Index(body, row("build-alpha")) {
		t.Error("the list is not newest first")
	}

	// A status tab, with the filters in the query.
	_, body = ts.page(t, "GET", "/tasks?status=completed", ts.Read, nil)
	wantContains(t, body, row("build-alpha"), row("triage-delta"))
	wantLacks(t, body, row("deploy-beta"), row("queued-epsilon"))

	_, body = ts.page(t, "GET", "/tasks?queue=builds", ts.Read, nil)
	wantContains(t, body, row("build-alpha"), row("build-gamma"), row("queued-epsilon"))
	wantLacks(t, body, row("deploy-beta"), row("triage-delta"))
	tab(body, "", "3")
	tab(body, "running", "1")
	// The tabs keep the filters.
	wantContains(t, body, `href="/tasks?queue=builds&amp;status=failed"`)

	_, body = ts.page(t, "GET", "/tasks?type=agent", ts.Read, nil)
	wantContains(t, body, row("triage-delta"))
	wantLacks(t, body, row("build-alpha"))

	_, body = ts.page(t, "GET", "/tasks?q=BUILD", ts.Read, nil)
	wantContains(t, body, row("build-alpha"), row("build-gamma"))
	wantLacks(t, body, row("deploy-beta"))

	_, body = ts.page(t, "GET", "/tasks?q="+strconv.FormatInt(ids["deploy-beta"], 10), ts.Read, nil)
	wantContains(t, body, row("deploy-beta"))
	wantLacks(t, body, row("build-alpha"))

	_, body = ts.page(t, "GET", "/tasks?q=nothing-matches", ts.Read, nil)
	wantContains(t, body, "No tasks match.")

	// A filter the server refuses is said on the page, not as JSON.
	resp, body = ts.page(t, "GET", "/tasks?status=sleeping", ts.Read, nil)
	wantStatus(t, resp, body, http.StatusBadRequest)
	wantContains(t, body, `role="alert"`, "unknown status")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestDashboardTaskListPages(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	batch := make([]db.NewTask, ListLimit+5)
	for i := range batch {
		batch[i] = execTask(fmt.Sprintf("job-%03d", i), "default")
	}
	if _, err := ts.store.SubmitBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	_, body := ts.page(t, "GET", "/tasks", ts.Read, nil)
	if n := strings.Count(body, "<tr data-key="); n != ListLimit {
		t.Errorf("the first page has %d rows, want %d", n, ListLimit)
	}
	m := regexp.MustCompile(`href="(/tasks\?cursor=\d+)" rel="next"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no link to the older tasks")
	}
	_, body = ts.page(t, "GET", m[1], ts.Read, nil)
	if n := strings.Count(body, "<tr data-key="); n != 5 {
		t.Errorf("the second page has %d rows, want 5", n)
	}
	wantContains(t, body, "job-000", "← Newest")
	wantLacks(t, body, `rel="next"`)
}

func TestDashboardStatsRendersSVG(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for i := range 4 {
		ts.submit(t, execTask(fmt.Sprintf("s%d", i), []string{"default", "batch"}[i%2]))
	}
	for i, task := range ts.claim(t, 3) {
		ts.finish(t, task, []db.Status{db.StatusCompleted, db.StatusFailed, db.StatusCompleted}[i], "boom")
	}
	resp, body := ts.page(t, "GET", "/stats", ts.Read, nil)
	wantStatus(t, resp, body, http.StatusOK)
	if n := strings.Count(body, "<svg "); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}
	wantContains(t, body, `role="img"`, `class="bar-completed"`, `class="bar-failed"`, `class="bar-pending"`,
		`class="bar-p50"`, "33.3%", `<a href="/tasks?queue=batch">batch</a>`)
	for _, w := range []string{"6h", "24h", "7d"} {
		resp, body := ts.page(t, "GET", "/stats?window="+w, ts.Read, nil)
		wantStatus(t, resp, body, http.StatusOK)
		wantContains(t, body, `class="bar-completed"`)
	}
}

// fullList stores a page and more of tasks of every kind, as a busy queue
// has them: exec tasks that completed, failed or run, and agent tasks with
// a transcript and the tokens they used.
func (ts *testServer) fullList(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var batch []db.NewTask
	for i := range ListLimit + 10 {
		nt := execTask(fmt.Sprintf("deploy-service-%02d", i), []string{"default", "deploys", "nightly"}[i%3])
		if i%4 == 0 {
			nt = db.NewTask{Type: "agent", Name: fmt.Sprintf("triage-incident-%02d", i), Queue: "agents", Input: json.RawMessage(`{"prompt":"Why did the deploy fail?"}`)}
		}
		batch = append(batch, nt)
	}
	if _, err := ts.store.SubmitBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	tasks := ts.claim(t, len(batch)-5)
	var outs []db.Outcome
	var evs []db.NewEvent
	ev := func(task db.Task, kind string, data any) {
		b, _ := json.Marshal(data)
		evs = append(evs, db.NewEvent{TaskID: task.ID, Kind: kind, Data: b})
	}
	for i, task := range tasks {
		if i%7 == 6 {
			continue // still running
		}
		out := db.Outcome{ID: task.ID, Worker: "w1", Attempt: task.Attempts, Status: db.StatusCompleted}
		if task.Type == "agent" {
			ev(task, "model", map[string]any{"step": 1, "text": "I will read the deploy log first.", "stop_reason": "tool_use",
				"tool_calls": []map[string]any{{"id": "call_1", "name": "read_file", "arguments": map[string]string{"path": "/var/log/deploy.log"}}},
				"usage":      map[string]int{"input_tokens": 1830, "output_tokens": 41, "total_tokens": 1871}})
			ev(task, "tool_call", map[string]any{"step": 1, "id": "call_1", "name": "read_file", "arguments": map[string]string{"path": "/var/log/deploy.log"}})
			ev(task, "tool_result", map[string]any{"step": 1, "id": "call_1", "name": "read_file", "content": "12:00:01 pulling image\n12:00:09 error: manifest unknown\n", "size": 52, "duration_ms": 3})
			ev(task, "model", map[string]any{"step": 2, "text": "The image tag does not exist: the build that should have pushed it failed.", "stop_reason": "end_turn",
				"usage": map[string]int{"input_tokens": 1920, "output_tokens": 28, "total_tokens": 1948}})
			out.Result = json.RawMessage(`{"answer":"The image tag does not exist.","stop_reason":"answer","steps":2,"provider":"anthropic","model":"claude-test","usage":{"input_tokens":3750,"output_tokens":69,"total_tokens":3819}}`)
		} else {
			ev(task, "stdout", map[string]string{"text": "deploying " + task.Name + "\n"})
			out.Result = json.RawMessage(`{"exit_code":0,"stdout":"deploying\n","stderr":"","duration_ms":1200}`)
			if i%5 == 1 {
				out.Status, out.Error = db.StatusFailed, "exit status 1: kubectl: error: the server doesn't have a resource type \"deploymentz\""
			}
		}
		outs = append(outs, out)
	}
	if _, err := ts.store.Finish(ctx, evs, outs); err != nil {
		t.Fatal(err)
	}
}

// cappedCounts is a store whose every count reaches the cap, as a queue of
// more than CountCap tasks would.
type cappedCounts struct{ db.Store }

func (cappedCounts) CountMatching(ctx context.Context, f db.Filter, max int64) (int64, bool, error) {
	return max, true, nil
}

func TestDashboardTabCountsStopAtTheCap(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	secret, hash := NewToken()
	if err := store.CreateToken(context.Background(), db.Token{Name: "reader", Hash: hash, Scope: db.ScopeRead}); err != nil {
		t.Fatal(err)
	}
	s := New(Options{Store: cappedCounts{store}, Validator: testRegistry()})
	req := httptest.NewRequest("GET", "http://localhost/tasks?status=pending", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: secret})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	body := rec.Body.String()
	wantStatus(t, rec.Result(), body, http.StatusOK)
	// html/template writes the + as &#43;.
	wantContains(t, body, `All <span class="count">10,000&#43;</span>`, `Pending <span class="count">10,000&#43;</span>`,
		`Failed <span class="count">10,000&#43;</span>`, `<caption class="sr">10,000&#43; tasks pending`)
}
