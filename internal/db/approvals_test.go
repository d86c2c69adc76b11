package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// claimOne submits an agent task and claims it as worker w.
func claimOne(t *testing.T, s db.Store, w string) db.Task {
	t.Helper()
	ctx := context.Background()
	id := submit(t, s, db.NewTask{Type: "agent", Input: json.RawMessage(`{"prompt":"p"}`), MaxAttempts: 2})
	ts, err := s.Claim(ctx, db.ClaimRequest{Worker: w, Limit: 1, Lease: time.Minute})
	if err != nil || len(ts) != 1 || ts[0].ID != id {
		t.Fatalf("claim: %v %+v", err, ts)
	}
	return ts[0]
}

func park(t *testing.T, s db.Store, task db.Task, w string) db.Approval {
	t.Helper()
	a, ok, err := s.Park(context.Background(), db.Park{TaskID: task.ID, Worker: w, Attempt: task.Attempts,
		Request: db.ApprovalRequest{CallID: "call_1", Tool: "run_command", Arguments: json.RawMessage(`{"argv":["rm","-rf","/tmp/x"]}`), Step: 2},
		Timeout: time.Hour})
	if err != nil || !ok {
		t.Fatalf("park: ok=%v err=%v", ok, err)
	}
	return a
}

func eventKinds(t *testing.T, s db.Store, id int64) []string {
	t.Helper()
	evs, err := s.Events(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func TestApprovalFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		task := claimOne(t, s, "w1")
		a := park(t, s, task, "w1")
		if a.ID == 0 || a.Tool != "run_command" || a.Step != 2 || !a.Open() || !a.ExpiresAt.Equal(c.Now().Add(time.Hour)) {
			t.Fatalf("approval = %+v", a)
		}
		got, err := s.Get(ctx, task.ID)
		if err != nil || got.Status != db.StatusWaiting || got.LeaseWorker != "" || got.Attempts != 0 {
			t.Fatalf("after park: %+v %v", got, err)
		}
		// A waiting task is not claimable and holds no lease.
		if ts, err := s.Claim(ctx, db.ClaimRequest{Worker: "w2", Limit: 5, Lease: time.Minute}); err != nil || len(ts) != 0 {
			t.Fatalf("claimed a waiting task: %v %+v", err, ts)
		}
		open, err := s.Approvals(ctx)
		if err != nil || len(open) != 1 || open[0].ID != a.ID || string(open[0].Arguments) != `{"argv":["rm","-rf","/tmp/x"]}` {
			t.Fatalf("approvals = %+v %v", open, err)
		}
		c.Add(time.Minute)
		d, err := s.Decide(ctx, db.Decide{TaskID: task.ID, Decision: db.DecisionApproved, By: "alice"})
		if err != nil || d.Decision != db.DecisionApproved || d.DecidedBy != "alice" || !d.DecidedAt.Equal(c.Now()) {
			t.Fatalf("decide = %+v %v", d, err)
		}
		if open, _ := s.Approvals(ctx); len(open) != 0 {
			t.Fatalf("still open: %+v", open)
		}
		// Deciding again finds nothing to decide.
		var nw *db.NotWaitingError
		if _, err := s.Decide(ctx, db.Decide{TaskID: task.ID, Decision: db.DecisionDenied}); !errors.As(err, &nw) || nw.Status != db.StatusPending {
			t.Fatalf("second decide: %v", err)
		}
		var nf *db.NotFoundError
		if _, err := s.Decide(ctx, db.Decide{TaskID: 999, Decision: db.DecisionDenied}); !errors.As(err, &nf) {
			t.Fatalf("missing task: %v", err)
		}
		// The decision makes it claimable again, as the same attempt.
		ts, err := s.Claim(ctx, db.ClaimRequest{Worker: "w2", Limit: 1, Lease: time.Minute})
		if err != nil || len(ts) != 1 || ts[0].ID != task.ID || ts[0].Attempts != 1 {
			t.Fatalf("claim after approve: %v %+v", err, ts)
		}
		last, ok, err := s.LastApproval(ctx, task.ID)
		if err != nil || !ok || last.ID != a.ID || last.Decision != db.DecisionApproved {
			t.Fatalf("last approval = %+v %v %v", last, ok, err)
		}
		want := []string{"status", "status", "approval_requested", "approval_decided", "status", "status"}
		if got := eventKinds(t, s, task.ID); !equalStrings(got, want) {
			t.Fatalf("events = %v, want %v", got, want)
		}
	})
}

func TestParkFencedAndCancelled(t *testing.T) {
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		task := claimOne(t, s, "w1")
		// Another worker, or another attempt, cannot park it.
		for _, p := range []db.Park{
			{TaskID: task.ID, Worker: "w2", Attempt: task.Attempts},
			{TaskID: task.ID, Worker: "w1", Attempt: task.Attempts + 1},
		} {
			if _, ok, err := s.Park(ctx, p); err != nil || ok {
				t.Fatalf("park %+v: ok=%v err=%v", p, ok, err)
			}
		}
		// A cancel requested while it ran wins over the request.
		if _, err := s.Cancel(ctx, task.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.Park(ctx, db.Park{TaskID: task.ID, Worker: "w1", Attempt: task.Attempts, Timeout: time.Hour}); err != nil || ok {
			t.Fatalf("park of a cancelled task: ok=%v err=%v", ok, err)
		}
		if got, _ := s.Get(ctx, task.ID); got.Status != db.StatusCancelled {
			t.Fatalf("status = %s", got.Status)
		}
		if open, _ := s.Approvals(ctx); len(open) != 0 {
			t.Fatalf("open = %+v", open)
		}
	})
}

func TestCancelWaiting(t *testing.T) {
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		task := claimOne(t, s, "w1")
		a := park(t, s, task, "w1")
		got, err := s.Cancel(ctx, task.ID)
		if err != nil || got.Status != db.StatusCancelled || got.Error != "cancelled" || got.FinishedAt.IsZero() {
			t.Fatalf("cancel = %+v %v", got, err)
		}
		last, _, _ := s.LastApproval(ctx, task.ID)
		if last.ID != a.ID || last.Decision != db.DecisionDenied || last.Reason != "the task was cancelled" {
			t.Fatalf("request after cancel = %+v", last)
		}
		if open, _ := s.Approvals(ctx); len(open) != 0 {
			t.Fatalf("open = %+v", open)
		}
	})
}

func TestExpireApprovals(t *testing.T) {
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		task := claimOne(t, s, "w1")
		park(t, s, task, "w1")
		c.Add(59 * time.Minute)
		if n, err := s.ExpireApprovals(ctx); err != nil || n != 0 {
			t.Fatalf("early expire: %d %v", n, err)
		}
		c.Add(time.Minute)
		if n, err := s.ExpireApprovals(ctx); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
		last, _, _ := s.LastApproval(ctx, task.ID)
		if last.Decision != db.DecisionDenied || last.Reason != "no decision within 1h0m0s" || last.DecidedBy != db.ExpiredBy {
			t.Fatalf("expired request = %+v", last)
		}
		if got, _ := s.Get(ctx, task.ID); got.Status != db.StatusPending {
			t.Fatalf("status = %s", got.Status)
		}
		if n, err := s.ExpireApprovals(ctx); err != nil || n != 0 {
			t.Fatalf("second expire: %d %v", n, err)
		}
	})
}

func TestCheckpoints(t *testing.T) {
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		task := claimOne(t, s, "w1")
		if _, ok, err := s.LoadCheckpoint(ctx, task.ID); err != nil || ok {
			t.Fatalf("load before save: %v %v", ok, err)
		}
		save := func(w string, attempt int, data string) bool {
			ok, err := s.SaveCheckpoint(ctx, db.Checkpoint{TaskID: task.ID, Worker: w, Attempt: attempt, Data: json.RawMessage(data)})
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !save("w1", task.Attempts, `{"step":1}`) || !save("w1", task.Attempts, `{"step":2}`) {
			t.Fatal("save refused")
		}
		if save("w2", task.Attempts, `{"step":9}`) || save("w1", task.Attempts+1, `{"step":9}`) {
			t.Fatal("save of a worker without the lease was stored")
		}
		cp, ok, err := s.LoadCheckpoint(ctx, task.ID)
		if err != nil || !ok || string(cp.Data) != `{"step":2}` || cp.Attempt != task.Attempts || !cp.UpdatedAt.Equal(c.Now()) {
			t.Fatalf("load = %+v %v %v", cp, ok, err)
		}
		// It survives waiting and a retry outcome, and goes when the task
		// finishes.
		park(t, s, task, "w1")
		if _, err := s.Decide(ctx, db.Decide{TaskID: task.ID, Decision: db.DecisionDenied, Reason: "no"}); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.LoadCheckpoint(ctx, task.ID); !ok {
			t.Fatal("checkpoint gone after a decision")
		}
		ts, err := s.Claim(ctx, db.ClaimRequest{Worker: "w2", Limit: 1, Lease: time.Minute})
		if err != nil || len(ts) != 1 {
			t.Fatal(err)
		}
		if _, err := s.Finish(ctx, nil, []db.Outcome{{ID: task.ID, Worker: "w2", Attempt: ts[0].Attempts, Status: db.StatusCompleted,
			Result: json.RawMessage(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.LoadCheckpoint(ctx, task.ID); ok {
			t.Fatal("checkpoint kept after the task completed")
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecideAfterExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		task := claimOne(t, s, "w1")
		park(t, s, task, "w1")
		c.Add(time.Hour)
		var xe *db.ExpiredError
		if _, err := s.Decide(ctx, db.Decide{TaskID: task.ID, Decision: db.DecisionApproved}); !errors.As(err, &xe) ||
			!xe.ExpiresAt.Equal(c.Now()) {
			t.Fatalf("approve after expiry: %v", err)
		}
		// Nothing was written: the request is still open, until expired.
		if open, _ := s.Approvals(ctx); len(open) != 1 {
			t.Fatalf("open = %+v", open)
		}
		if n, err := s.ExpireApprovals(ctx); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
	})
}
