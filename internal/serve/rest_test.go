package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// problemOf decodes a problem+json body and checks its status.
func problemOf(t *testing.T, resp *http.Response, body []byte, status int) problem {
	t.Helper()
	require.Equal(t, status, resp.StatusCode, "body: %s", body)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	var p problem
	require.NoError(t, json.Unmarshal(body, &p))
	require.Equal(t, status, p.Status)
	require.Equal(t, http.StatusText(status), p.Title)
	require.NotEmpty(t, p.Detail)
	return p
}

type taskBody struct {
	ID          int64           `json:"id"`
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Queue       string          `json:"queue"`
	Status      string          `json:"status"`
	Input       json.RawMessage `json:"input"`
	MaxAttempts int             `json:"max_attempts"`
	Key         *string         `json:"key"`
	Timeout     float64         `json:"timeout_seconds"`
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), "body: %s", b)
	return v
}

func (ts *testServer) count(t *testing.T) int64 {
	t.Helper()
	n, err := ts.store.Count(context.Background())
	require.NoError(t, err)
	return n
}

func TestRESTCreate(t *testing.T) {
	ts := newTestServer(t)
	body := `{"type":"exec","input":{"command":["echo","hi"],"dir":"/tmp"},"name":"greet","queue":"q1","max_attempts":3,"timeout":"90s"}`
	resp, b := ts.do(t, "POST", "/api/v1/tasks", ts.Write, body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
	got := decode[taskBody](t, b)
	require.Equal(t, fmt.Sprintf("/api/v1/tasks/%d", got.ID), resp.Header.Get("Location"))
	require.Equal(t, "pending", got.Status)
	stored, err := ts.store.Get(context.Background(), got.ID)
	require.NoError(t, err)
	require.Equal(t, "greet", stored.Name)
	require.Equal(t, "q1", stored.Queue)
	require.Equal(t, 3, stored.MaxAttempts)
	require.Equal(t, 90*time.Second, stored.Timeout)
	require.JSONEq(t, `{"command":["echo","hi"],"dir":"/tmp"}`, string(stored.Input))

	// The trailing-slash path of the system this replaces works too.
	resp, b = ts.do(t, "POST", "/api/v1/tasks/", ts.Write, `{"type":"agent","input":{"prompt":"hi"}}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
	require.EqualValues(t, 2, ts.count(t))
}

func TestRESTCreateRefusals(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		name, body string
		status     int
		detail     string
	}{
		{"malformed", `{"type":`, 400, "not a JSON object"},
		{"array", `[1]`, 400, "not a JSON object"},
		{"trailing", `{"type":"exec"} {}`, 400, "data after"},
		{"unknown type", `{"type":"nope","input":{"x":1}}`, 422, `unknown task type "nope"`},
		{"bad exec input", `{"type":"exec","input":{"command":"not a list"}}`, 422, "exec input"},
		{"unknown field", `{"type":"exec","input":{"command":["true"]},"colour":"red"}`, 422, "colour"},
		{"relative dir", `{"type":"exec","input":{"command":["true"],"dir":"sub"}}`, 422, "absolute"},
		{"bad timeout", `{"type":"exec","input":{"command":["true"]},"timeout":"soon"}`, 422, "timeout"},
		{"control char name", `{"type":"exec","input":{"command":["true"]},"name":"a\u001bb"}`, 422, "control character"},
		{"direction override", `{"type":"exec","input":{"command":["true"]},"name":"a\u202eb"}`, 422, "text-direction"},
		{"zero attempts", `{"type":"exec","input":{"command":["true"]},"max_attempts":0}`, 422, "max_attempts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := ts.do(t, "POST", "/api/v1/tasks", ts.Write, c.body)
			p := problemOf(t, resp, b, c.status)
			require.Contains(t, p.Detail, c.detail)
		})
	}
	big := `{"type":"exec","input":{"command":["echo","` + strings.Repeat("x", MaxBody) + `"]}}`
	resp, b := ts.do(t, "POST", "/api/v1/tasks", ts.Write, big)
	problemOf(t, resp, b, http.StatusRequestEntityTooLarge)
	require.Zero(t, ts.count(t), "nothing is written for a refused task")
}

func TestRESTIdempotencyKey(t *testing.T) {
	ts := newTestServer(t)
	body := `{"type":"exec","input":{"command":["true"],"dir":"/"}}`
	resp, b := ts.do(t, "POST", "/api/v1/tasks", ts.Write, body, "Idempotency-Key", "k-1")
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
	first := decode[taskBody](t, b)
	require.Equal(t, "k-1", *first.Key)

	resp, b = ts.do(t, "POST", "/api/v1/tasks", ts.Write, body, "Idempotency-Key", "k-1")
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	require.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))
	require.Equal(t, first.ID, decode[taskBody](t, b).ID)

	// The same key with another input is refused, not taken for the first.
	resp, b = ts.do(t, "POST", "/api/v1/tasks", ts.Write, `{"type":"exec","input":{"command":["false"],"dir":"/"}}`, "Idempotency-Key", "k-1")
	require.Contains(t, problemOf(t, resp, b, 422).Detail, "another input")
	// The header and the body's key must agree.
	resp, b = ts.do(t, "POST", "/api/v1/tasks", ts.Write, `{"type":"exec","input":{"command":["true"]},"key":"k-2"}`, "Idempotency-Key", "k-3")
	problemOf(t, resp, b, 422)
	require.EqualValues(t, 1, ts.count(t))
}

func TestRESTConcurrentSubmitsWithOneKey(t *testing.T) {
	ts := newTestServer(t)
	const n = 16
	ids := make(chan int64, n)
	for range n {
		go func() {
			resp, b := ts.do(t, "POST", "/api/v1/tasks", ts.Write, `{"type":"exec","input":{"command":["true"],"dir":"/"}}`, "Idempotency-Key", "same")
			if resp.StatusCode != 201 && resp.StatusCode != 200 {
				t.Errorf("status %d: %s", resp.StatusCode, b)
			}
			ids <- decode[taskBody](t, b).ID
		}()
	}
	first := <-ids
	for range n - 1 {
		require.Equal(t, first, <-ids)
	}
	require.EqualValues(t, 1, ts.count(t))
}

func TestRESTGetCancelRetry(t *testing.T) {
	ts := newTestServer(t)
	id := ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	path := fmt.Sprintf("/api/v1/tasks/%d", id)

	resp, b := ts.do(t, "GET", path, ts.Read, "")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "pending", decode[taskBody](t, b).Status)

	resp, b = ts.do(t, "POST", path+"/retry", ts.Write, "")
	require.Contains(t, problemOf(t, resp, b, 409).Detail, "pending")

	resp, b = ts.do(t, "POST", path+"/cancel", ts.Write, "")
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	require.Equal(t, "cancelled", decode[taskBody](t, b).Status)

	resp, b = ts.do(t, "POST", path+"/cancel", ts.Write, "")
	problemOf(t, resp, b, 409)

	resp, b = ts.do(t, "POST", path+"/retry", ts.Write, "")
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	require.Equal(t, "pending", decode[taskBody](t, b).Status)

	resp, b = ts.do(t, "GET", "/api/v1/tasks/999", ts.Read, "")
	require.Contains(t, problemOf(t, resp, b, 404).Detail, "999")
	resp, b = ts.do(t, "POST", "/api/v1/tasks/999/cancel", ts.Write, "")
	require.Contains(t, problemOf(t, resp, b, 404).Detail, "999")
	resp, b = ts.do(t, "GET", "/api/v1/tasks/abc", ts.Read, "")
	require.Contains(t, problemOf(t, resp, b, 404).Detail, "abc")
	resp, b = ts.do(t, "GET", "/api/v1/nothing", ts.Read, "")
	problemOf(t, resp, b, 404)
}

func TestRESTAuth(t *testing.T) {
	ts := newTestServer(t)
	id := ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	get := fmt.Sprintf("/api/v1/tasks/%d", id)

	resp, b := ts.do(t, "GET", get, "", "")
	problemOf(t, resp, b, 401)
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
	resp, b = ts.do(t, "GET", get, "opsctl_wrong", "")
	problemOf(t, resp, b, 401)
	resp, b = ts.do(t, "GET", get, "", "", "Authorization", ts.Read)
	require.Contains(t, problemOf(t, resp, b, 401).Detail, `"Bearer TOKEN"`)

	// Revoked: the token stops working at once.
	gone := ts.token(t, "gone", db.ScopeAdmin)
	resp, _ = ts.do(t, "GET", get, gone, "")
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, ts.store.RevokeToken(context.Background(), "gone"))
	resp, b = ts.do(t, "GET", get, gone, "")
	problemOf(t, resp, b, 401)

	// Expired.
	secret, hash := NewToken()
	require.NoError(t, ts.store.CreateToken(context.Background(), db.Token{Name: "old", Hash: hash, Scope: db.ScopeAdmin, ExpiresAt: time.Now().Add(-time.Minute)}))
	resp, b = ts.do(t, "GET", get, secret, "")
	require.Contains(t, problemOf(t, resp, b, 401).Detail, "expired")

	// A read token reads but does not write.
	resp, b = ts.do(t, "POST", get+"/cancel", ts.Read, "")
	require.Contains(t, problemOf(t, resp, b, 403).Detail, "read")
	resp, b = ts.do(t, "POST", "/api/v1/tasks", ts.Read, `{"type":"exec","input":{"command":["true"]}}`)
	problemOf(t, resp, b, 403)
	require.EqualValues(t, 1, ts.count(t))
	got, err := ts.store.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, db.StatusPending, got.Status)

	// An admin token writes.
	resp, _ = ts.do(t, "POST", get+"/cancel", ts.Admin, "")
	require.Equal(t, 200, resp.StatusCode)

	// Health, readiness, metrics and the API description need no token.
	for _, p := range []string{"/health", "/healthz", "/readyz", "/metrics", "/api/v1/openapi.json", "/api/v1/openapi.yaml"} {
		resp, b = ts.do(t, "GET", p, "", "")
		require.Equal(t, 200, resp.StatusCode, "%s: %s", p, b)
	}
	// A token's use is recorded.
	toks, err := ts.store.Tokens(context.Background())
	require.NoError(t, err)
	for _, tk := range toks {
		if tk.Name == "reader" {
			require.False(t, tk.LastUsedAt.IsZero())
		}
	}
}

func TestRESTCrossOriginAndHost(t *testing.T) {
	ts := newTestServer(t)
	// A browser's cross-site write is refused even with a valid session.
	resp, _ := ts.do(t, "POST", "/api/v1/tasks", ts.Write, `{"type":"exec","input":{"command":["true"]}}`, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, b := ts.do(t, "POST", "/api/v1/tasks", ts.Write, `{"type":"exec","input":{"command":["true"]}}`, "Origin", "https://evil.example")
	require.Contains(t, problemOf(t, resp, b, http.StatusForbidden).Detail, "cross-origin")
	require.Zero(t, ts.count(t))

	// A Host not on the allow-list (DNS rebinding) is refused.
	req, err := http.NewRequest("GET", ts.URL+"/health", nil)
	require.NoError(t, err)
	req.Host = "evil.example"
	r, err := ts.srv.Client().Do(req)
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, http.StatusForbidden, r.StatusCode)
}

type listBody struct {
	Tasks       []taskBody `json:"tasks"`
	Total       int64      `json:"total"`
	TotalCapped bool       `json:"total_capped"`
	NextCursor  *string    `json:"next_cursor"`
}

func TestRESTList(t *testing.T) {
	ts := newTestServer(t)
	for i := range 7 {
		q := "a"
		if i%2 == 1 {
			q = "b"
		}
		ts.submit(t, db.NewTask{Type: "exec", Name: fmt.Sprintf("job-%d", i), Queue: q, Input: json.RawMessage(`{"command":["true"]}`)})
	}
	ts.submit(t, db.NewTask{Type: "agent", Name: "Nightly report", Input: json.RawMessage(`{"prompt":"x"}`)})
	ts.claim(t, 1) // the oldest, job-0, runs

	l := decode[listBody](t, must200(t, ts, "/api/v1/tasks?limit=3"))
	require.Len(t, l.Tasks, 3)
	require.EqualValues(t, 8, l.Total)
	require.False(t, l.TotalCapped)
	require.Equal(t, []int64{8, 7, 6}, ids(l.Tasks))
	require.NotNil(t, l.NextCursor)
	var all []int64
	all = append(all, ids(l.Tasks)...)
	for l.NextCursor != nil {
		l = decode[listBody](t, must200(t, ts, "/api/v1/tasks?limit=3&cursor="+*l.NextCursor))
		all = append(all, ids(l.Tasks)...)
	}
	require.Equal(t, []int64{8, 7, 6, 5, 4, 3, 2, 1}, all)

	l = decode[listBody](t, must200(t, ts, "/api/v1/tasks?queue=b"))
	require.Equal(t, []int64{6, 4, 2}, ids(l.Tasks))
	require.EqualValues(t, 3, l.Total)
	require.Nil(t, l.NextCursor)
	l = decode[listBody](t, must200(t, ts, "/api/v1/tasks?status=running&status=cancelled"))
	require.Equal(t, []int64{1}, ids(l.Tasks))
	l = decode[listBody](t, must200(t, ts, "/api/v1/tasks?type=agent"))
	require.Equal(t, []int64{8}, ids(l.Tasks))
	l = decode[listBody](t, must200(t, ts, "/api/v1/tasks?q=nightly"))
	require.Equal(t, []int64{8}, ids(l.Tasks))
	// A number is an id, and also text a name may contain ("job-4" is 5).
	l = decode[listBody](t, must200(t, ts, "/api/v1/tasks?q=4"))
	require.Equal(t, []int64{5, 4}, ids(l.Tasks))
	l = decode[listBody](t, must200(t, ts, "/api/v1/tasks?queue=a&type=exec&status=pending"))
	require.Equal(t, []int64{7, 5, 3}, ids(l.Tasks))

	for _, bad := range []string{"status=done", "limit=0", "limit=201", "limit=x", "cursor=zz"} {
		resp, b := ts.do(t, "GET", "/api/v1/tasks?"+bad, ts.Read, "")
		problemOf(t, resp, b, 422)
	}
}

func must200(t *testing.T, ts *testServer, path string) []byte {
	t.Helper()
	resp, b := ts.do(t, "GET", path, ts.Read, "")
	require.Equal(t, 200, resp.StatusCode, "%s: %s", path, b)
	return b
}

func ids(ts []taskBody) []int64 {
	out := []int64{}
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func TestRESTEvents(t *testing.T) {
	ts := newTestServer(t)
	ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	task := ts.claim(t, 1)[0]
	ts.emit(t, task, "stdout", map[string]string{"text": "one\n"})
	ts.emit(t, task, "stdout", map[string]string{"text": "two\n"})

	type page struct {
		Events []struct {
			ID     int64           `json:"id"`
			TaskID int64           `json:"task_id"`
			Kind   string          `json:"kind"`
			Data   json.RawMessage `json:"data"`
		} `json:"events"`
		NextAfter int64 `json:"next_after"`
	}
	p := decode[page](t, must200(t, ts, fmt.Sprintf("/api/v1/tasks/%d/events", task.ID)))
	require.Len(t, p.Events, 3) // pending -> running, and two lines
	require.Equal(t, "status", p.Events[0].Kind)
	require.JSONEq(t, `{"text":"two\n"}`, string(p.Events[2].Data))
	require.Equal(t, p.Events[2].ID, p.NextAfter)

	p = decode[page](t, must200(t, ts, fmt.Sprintf("/api/v1/tasks/%d/events?after=%d", task.ID, p.Events[1].ID)))
	require.Len(t, p.Events, 1)
	p2 := decode[page](t, must200(t, ts, fmt.Sprintf("/api/v1/tasks/%d/events?after=%d", task.ID, p.NextAfter)))
	require.Empty(t, p2.Events)
	require.Equal(t, p.NextAfter, p2.NextAfter)

	resp, b := ts.do(t, "GET", "/api/v1/tasks/77/events", ts.Read, "")
	problemOf(t, resp, b, 404)
	resp, b = ts.do(t, "GET", fmt.Sprintf("/api/v1/tasks/%d/events?after=-1", task.ID), ts.Read, "")
	problemOf(t, resp, b, 422)
}
