package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/opsctl/opsctl/internal/db"
)

func TestDashboardTaskPageEscapesEventData(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	nt := execTask(`<script>alert("name")</script>`, "default")
	nt.Input = json.RawMessage(`{"command":["echo","<img src=x onerror=alert(1)>"]}`)
	id := ts.submit(t, nt)
	task := ts.claim(t, 1)[0]
	ts.emit(t, task, "stdout", map[string]string{"text": "<b>bold</b> \x1b[31mred\x1b[0m \x1b]0;title\x07 done\n"})
	ts.emit(t, task, "stderr", map[string]string{"text": "</pre><script>alert(2)</script>\n"})
	ts.emit(t, task, "weird<kind>", map[string]string{"x": "<i>"})

	resp, body := ts.page(t, "GET", fmt.Sprintf("/tasks/%d", id), ts.Read, nil)
	wantStatus(t, resp, body, http.StatusOK)
	wantLacks(t, body, "<script>alert", "<b>bold", "<img src=x", "\x1b", "\x07", "weird<kind>", "<i>")
	wantContains(t, body,
		`&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;`,
		`&lt;b&gt;bold&lt;/b&gt; red \x1b]0;title\a done`,
		`&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;`,
		`&lt;img src=x onerror=alert(1)&gt;`,
		`data-stream="/api/v1/tasks/`+strconv.FormatInt(id, 10)+`/events/stream"`,
	)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}

	// The live fragment the script fetches renders the same way.
	ts.emit(t, task, "stdout", map[string]string{"text": "<u>later</u>\n"})
	resp, body = ts.page(t, "GET", fmt.Sprintf("/tasks/%d/live?after=0&full=1", id), ts.Read, nil)
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, `id="new-events"`, `&lt;u&gt;later&lt;/u&gt;`, `id="summary" data-live`, `id="attempts" data-live`)
	wantLacks(t, body, "<u>later", "<script>alert")
	// Without full=1, only the events after the one given.
	_, body = ts.page(t, "GET", fmt.Sprintf("/tasks/%d/live?after=%s", id, lastEventID(t, body)), ts.Read, nil)
	wantContains(t, body, `<ol id="new-events"`)
	wantLacks(t, body, `id="summary"`, `ev-`)
}

func TestDashboardAgentTranscript(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.submit(t, db.NewTask{Type: "agent", Name: "triage", Input: json.RawMessage(`{"prompt":"why is it down?"}`)})
	task := ts.claim(t, 1)[0]
	ts.emit(t, task, "model", map[string]any{"step": 1, "text": "Let me look.", "stop_reason": "tool_use",
		"tool_calls": []map[string]any{{"id": "c1", "name": "http_get", "arguments": map[string]string{"url": "http://status"}}},
		"usage":      map[string]int{"input_tokens": 1234, "output_tokens": 56, "total_tokens": 1290}})
	ts.emit(t, task, "tool_call", map[string]any{"step": 1, "id": "c1", "name": "http_get", "arguments": map[string]string{"url": "http://status"}})
	ts.emit(t, task, "tool_result", map[string]any{"step": 1, "id": "c1", "name": "http_get", "content": "503 <html>down</html>", "is_error": true, "size": 21, "duration_ms": 12})

	_, body := ts.page(t, "GET", fmt.Sprintf("/tasks/%d", id), ts.Read, nil)
	wantContains(t, body, "Transcript", "Turn 1", "1,234 in / 56 out tokens", "stop: tool_use", "asks for http_get",
		"Let me look.", "tool call", `&#34;url&#34;: &#34;http://status&#34;`, "tool error", "503 &lt;html&gt;down&lt;/html&gt;", "12ms")
}

func TestDashboardCancelAndRetryForms(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	failed := ts.failedTask(t, "flaky")
	path := fmt.Sprintf("/tasks/%d", failed)

	resp, body := ts.page(t, "GET", path, ts.Write, nil)
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, `<form method="post" action="`+path+`/retry"><button type="submit" id="retry">Retry</button>`, "exit status 3")
	wantContains(t, body, `<button type="submit" class="danger" disabled>Cancel</button>`)
	// Its attempt, with the reason from the status event.
	wantContains(t, body, `<td>w1</td>`, "exit status 3")

	resp, body = ts.page(t, "POST", path+"/retry", ts.Write, url.Values{})
	wantStatus(t, resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != path+"?done=retried" {
		t.Errorf("Location = %q", loc)
	}
	if st := ts.taskStatus(t, failed); st != db.StatusPending {
		t.Fatalf("status %s after retry, want pending", st)
	}
	_, body = ts.page(t, "GET", path+"?done=retried", ts.Write, nil)
	wantContains(t, body, `data-status="pending"`, "put back to pending")

	// Retrying a pending task is refused by the state machine: the page
	// says so, with 409.
	resp, body = ts.page(t, "POST", path+"/retry", ts.Write, url.Values{})
	wantStatus(t, resp, body, http.StatusConflict)
	wantContains(t, body, `role="alert"`, "is pending: only a failed or cancelled task can be retried")

	// Cancel the pending task; cancelling it again is a conflict.
	resp, body = ts.page(t, "POST", path+"/cancel", ts.Write, url.Values{})
	wantStatus(t, resp, body, http.StatusSeeOther)
	if st := ts.taskStatus(t, failed); st != db.StatusCancelled {
		t.Fatalf("status %s after cancel, want cancelled", st)
	}
	resp, body = ts.page(t, "POST", path+"/cancel", ts.Write, url.Values{})
	wantStatus(t, resp, body, http.StatusConflict)
	wantContains(t, body, "is cancelled: only a pending, running or waiting task can be cancelled")

	// An unknown task is a 404 page.
	resp, body = ts.page(t, "POST", "/tasks/999999/retry", ts.Write, url.Values{})
	wantStatus(t, resp, body, http.StatusNotFound)
	wantContains(t, body, "task 999999 not found")
}

func TestDashboardReadTokenCannotRetry(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.failedTask(t, "read-only")
	path := fmt.Sprintf("/tasks/%d", id)

	_, body := ts.page(t, "GET", path, ts.Read, nil)
	wantContains(t, body, `<button type="submit" id="retry" disabled>Retry</button>`, "need a write token")

	resp, body := ts.page(t, "POST", path+"/retry", ts.Read, url.Values{})
	wantStatus(t, resp, body, http.StatusForbidden)
	wantContains(t, body, `role="alert"`, `token &#34;reader&#34; has scope read; this needs write`)
	if st := ts.taskStatus(t, id); st != db.StatusFailed {
		t.Errorf("status %s after a read token's retry, want failed", st)
	}
}

// lastEventID is the data-after of a live fragment: its last event's id.
func lastEventID(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`<ol id="new-events" data-after="(\d+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no events list in:\n%s", body)
	}
	return m[1]
}
