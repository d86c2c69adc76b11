package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// park puts a running task in waiting for a run_command call, as a runner
// would.
func (ts *testServer) park(t *testing.T, task db.Task) db.Approval {
	t.Helper()
	a, ok, err := ts.store.Park(context.Background(), db.Park{TaskID: task.ID, Worker: "w1", Attempt: task.Attempts,
		Request: db.ApprovalRequest{CallID: "c1", Tool: "run_command", Arguments: json.RawMessage(`{"command":["rm","x"]}`), Step: 1},
		Timeout: time.Hour})
	require.NoError(t, err)
	require.True(t, ok)
	return a
}

func TestRESTApproveDeny(t *testing.T) {
	ts := newTestServer(t)
	for range 2 {
		ts.submit(t, db.NewTask{Type: "agent", Input: json.RawMessage(`{"prompt":"p"}`)})
	}
	tasks := ts.claim(t, 2)
	a1, a2 := ts.park(t, tasks[0]), ts.park(t, tasks[1])

	resp, b := ts.do(t, "GET", "/api/v1/approvals", ts.Read, "")
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	list := decode[struct{ Approvals []ApprovalJSON }](t, b).Approvals
	require.Len(t, list, 2)
	require.Equal(t, a1.ID, list[0].Request)
	require.Equal(t, "run_command", list[0].Tool)
	require.JSONEq(t, `{"command":["rm","x"]}`, string(list[0].Arguments))
	require.Nil(t, list[0].Decision)

	path := func(id int64, verb string) string { return fmt.Sprintf("/api/v1/tasks/%d/%s", id, verb) }
	// A read token may look, not decide.
	resp, b = ts.do(t, "POST", path(tasks[0].ID, "approve"), ts.Read, "")
	problemOf(t, resp, b, 403)
	// Bad bodies.
	resp, b = ts.do(t, "POST", path(tasks[0].ID, "deny"), ts.Write, `{"why":"x"}`)
	problemOf(t, resp, b, 422)
	resp, b = ts.do(t, "POST", path(tasks[0].ID, "deny"), ts.Write, `{"reason":"a\u0007b"}`)
	require.Contains(t, problemOf(t, resp, b, 422).Detail, "control character")

	resp, b = ts.do(t, "POST", path(tasks[0].ID, "approve"), ts.Write, "")
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	got := decode[ApprovalJSON](t, b)
	require.Equal(t, "approved", *got.Decision)
	require.Equal(t, "token writer", got.DecidedBy)

	resp, b = ts.do(t, "POST", path(tasks[1].ID, "deny"), ts.Write, `{"reason":"not today"}`)
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	got = decode[ApprovalJSON](t, b)
	require.Equal(t, a2.ID, got.Request)
	require.Equal(t, "denied", *got.Decision)
	require.Equal(t, "not today", got.Reason)

	// Both tasks are pending again; nothing waits.
	for _, task := range tasks {
		resp, b = ts.do(t, "GET", fmt.Sprintf("/api/v1/tasks/%d", task.ID), ts.Read, "")
		require.Equal(t, "pending", decode[taskBody](t, b).Status)
	}
	resp, b = ts.do(t, "GET", "/api/v1/approvals", ts.Read, "")
	require.Empty(t, decode[struct{ Approvals []ApprovalJSON }](t, b).Approvals)

	resp, b = ts.do(t, "POST", path(tasks[0].ID, "approve"), ts.Write, "")
	require.Contains(t, problemOf(t, resp, b, 409).Detail, "waits for no approval")
	resp, b = ts.do(t, "POST", path(999, "deny"), ts.Write, "")
	require.Contains(t, problemOf(t, resp, b, 404).Detail, "999")
	resp, b = ts.do(t, "GET", "/api/v1/tasks?status=waiting", ts.Read, "")
	require.Equal(t, 200, resp.StatusCode, "%s", b)
}

func TestDashboardApproveDeny(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for range 2 {
		ts.submit(t, db.NewTask{Type: "agent", Input: json.RawMessage(`{"prompt":"p"}`)})
	}
	tasks := ts.claim(t, 2)
	ts.park(t, tasks[0])
	ts.park(t, tasks[1])
	path := fmt.Sprintf("/tasks/%d", tasks[0].ID)

	resp, body := ts.page(t, "GET", path, ts.Read, nil)
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, "Waits for approval: run_command", `id="approve" disabled`, "need a write token")
	resp, body = ts.page(t, "GET", path, ts.Write, nil)
	wantContains(t, body, `action="`+path+`/approve"`, `action="`+path+`/deny"`, "&#34;rm&#34;")

	// A read token is refused; a write token approves.
	resp, body = ts.page(t, "POST", path+"/approve", ts.Read, url.Values{})
	wantStatus(t, resp, body, http.StatusForbidden)
	resp, body = ts.page(t, "POST", path+"/approve", ts.Write, url.Values{})
	wantStatus(t, resp, body, http.StatusSeeOther)
	if st := ts.taskStatus(t, tasks[0].ID); st != db.StatusPending {
		t.Fatalf("status %s after approve", st)
	}
	resp, body = ts.page(t, "POST", path+"/approve", ts.Write, url.Values{})
	wantStatus(t, resp, body, http.StatusConflict)
	wantContains(t, body, "waits for no approval")

	other := fmt.Sprintf("/tasks/%d", tasks[1].ID)
	resp, body = ts.page(t, "POST", other+"/deny", ts.Write, url.Values{"reason": {"not now"}})
	wantStatus(t, resp, body, http.StatusSeeOther)
	a, ok, err := ts.store.LastApproval(context.Background(), tasks[1].ID)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, db.DecisionDenied, a.Decision)
	require.Equal(t, "not now", a.Reason)
	require.Equal(t, "token writer", a.DecidedBy)
}
