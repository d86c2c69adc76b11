package db_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
	"github.com/opsctl/opsctl/internal/schedule"
)

// copyTarget opens a new, migrated database of dialect d for a copy to
// write into.
func copyTarget(t testing.TB, d db.Dialect) db.Copier {
	t.Helper()
	return openBackend(t, d, db.Options{}).(db.Copier)
}

// copyAll copies src into dst and fails the test on error.
func copyAll(t testing.TB, src, dst db.Copier) db.CopyStats {
	t.Helper()
	st, err := db.Copy(context.Background(), src, dst, db.CopyOptions{Chunk: 3})
	require.NoError(t, err)
	return st
}

// dump is everything a copy moves, read through the backend's snapshot.
type dump struct {
	Tasks         []db.TaskRow
	Events        []db.Event
	Approvals     []db.Approval
	Checkpoints   []db.Checkpoint
	Dependencies  []db.TaskDep
	Notifications []db.OutboxRow
	Tokens        []db.Token
	Schedules     []db.Schedule
	Queues        []db.QueueState
	NotifyRules   []db.NotifyRuleRow
}

// emptyDump is what readDump reads from a database without rows.
func emptyDump() dump {
	return dump{Tasks: []db.TaskRow{}, Events: []db.Event{}, Approvals: []db.Approval{}, Checkpoints: []db.Checkpoint{},
		Dependencies: []db.TaskDep{}, Notifications: []db.OutboxRow{}, Tokens: []db.Token{}, Schedules: []db.Schedule{},
		Queues: []db.QueueState{}, NotifyRules: []db.NotifyRuleRow{}}
}

// counts are the counts of d, as CopyStats has them.
func (d dump) counts() db.CopyCounts {
	n := func(l int) int64 { return int64(l) }
	return db.CopyCounts{Tasks: n(len(d.Tasks)), Events: n(len(d.Events)), Approvals: n(len(d.Approvals)),
		Checkpoints: n(len(d.Checkpoints)), Dependencies: n(len(d.Dependencies)), Notifications: n(len(d.Notifications)),
		Tokens: n(len(d.Tokens)), Schedules: n(len(d.Schedules)), Queues: n(len(d.Queues)), NotifyRules: n(len(d.NotifyRules))}
}

func readDump(t testing.TB, s db.Copier) dump {
	t.Helper()
	ctx := context.Background()
	snap, err := s.Export(ctx)
	require.NoError(t, err)
	defer snap.Close()
	const all = 1_000_000
	var d dump
	d.Tasks, err = snap.Tasks(ctx, 0, all)
	require.NoError(t, err)
	d.Events, err = snap.Events(ctx, 0, all)
	require.NoError(t, err)
	d.Approvals, err = snap.Approvals(ctx, 0, all)
	require.NoError(t, err)
	d.Checkpoints, err = snap.Checkpoints(ctx, 0, all)
	require.NoError(t, err)
	d.Dependencies, err = snap.Dependencies(ctx, db.TaskDep{}, all)
	require.NoError(t, err)
	d.Notifications, err = snap.Notifications(ctx, 0, all)
	require.NoError(t, err)
	d.Tokens, err = snap.Tokens(ctx)
	require.NoError(t, err)
	d.Schedules, err = snap.Schedules(ctx)
	require.NoError(t, err)
	d.Queues, err = snap.Queues(ctx)
	require.NoError(t, err)
	d.NotifyRules, err = snap.NotifyRules(ctx)
	require.NoError(t, err)
	counts, err := snap.Counts(ctx)
	require.NoError(t, err)
	require.Equal(t, d.counts(), counts, "Counts counts what the reads return")
	return d
}

// copyFixture names the tasks fillForCopy made that a test looks at again.
type copyFixture struct {
	pruned    int64   // the highest id, pruned
	waiting   int64   // waiting, with an open approval request and a checkpoint
	resumed   int64   // approved: pending, with a decided request and a checkpoint
	blocked   []int64 // pending, waiting for a dependency
	scheduled int64   // enqueued by the schedule "hourly"
}

// fillForCopy stores tasks in every state through the store API: done,
// failed, cancelled, scheduled, running with a cancel request and a
// rescue mark, pending in another queue, retried, waiting for an approval
// (with its open request and checkpoint), approved and pending again,
// blocked by dependencies, enqueued by a schedule, with keys, results,
// errors and events in several scripts; and beside them API tokens,
// schedules (one paused), a paused queue and a resumed one, notify rules
// and undelivered notifications (one held by a runner, one retried). The
// task with the highest id is pruned, so the ids handed out go past those
// left.
func fillForCopy(t *testing.T, s db.Backend, c *clock) copyFixture {
	t.Helper()
	ctx := context.Background()
	var fx copyFixture
	// Rules first: the status changes below owe notifications.
	require.NoError(t, s.RegisterNotifyRules(ctx, []db.NotifyRule{
		{Key: "chat", On: []db.Status{db.StatusFailed, db.StatusCancelled, db.StatusWaiting}},
		{Key: "pager ✓", On: []db.Status{db.StatusFailed}, Queue: "ops", Type: "exec"}}))
	c.Add(time.Second)

	done := submit(t, s, db.NewTask{Name: "ünïcode ✓", Queue: "ops", Priority: 2, MaxAttempts: 2,
		Timeout: 90 * time.Second, Key: "clé-1", Input: json.RawMessage(`{"command":["echo","héllo 🌍"],"dir":"/tmp"}`)})
	failed := submit(t, s, db.NewTask{Priority: 1, Key: "k2"})
	cancelled := submit(t, s, db.NewTask{Name: "never"})
	scheduled := submit(t, s, db.NewTask{RunAfter: c.Now().Add(2 * time.Hour)})
	running := submit(t, s, db.NewTask{Input: json.RawMessage(`{"command":["sleep","1000"]}`)})
	other := submit(t, s, db.NewTask{Queue: "other", Priority: -5, Input: json.RawMessage(`{ "spaced" : [1, 2.50, "x"] }`)})
	retried := submit(t, s, db.NewTask{})
	agent := db.NewTask{Type: "agent", Queue: "agents", Input: json.RawMessage(`{"prompt":"tidy /tmp"}`), MaxAttempts: 2}
	fx.waiting = submit(t, s, agent)
	fx.resumed = submit(t, s, agent)
	// Blocked: on a task that will complete and one that stays pending,
	// and on that task in turn.
	rs, err := s.SubmitBatch(ctx, []db.NewTask{{Type: "exec", Name: "after", After: []int64{done, other}},
		{Type: "exec", Name: "after after", AfterIndex: []int{0}}})
	require.NoError(t, err)
	fx.blocked = []int64{rs[0].ID, rs[1].ID}
	// A schedule that has enqueued a task, then paused; and a cron one.
	hourly := everySchedule("hourly", time.Hour, c.Now())
	hourly.NextRunAt = c.Now()
	hourly.Task.Queue, hourly.Task.Priority = "reports", -10
	require.NoError(t, s.CreateSchedule(ctx, hourly))
	due, err := s.EnqueueDue(ctx, schedule.Plan)
	require.NoError(t, err)
	require.Len(t, due.Occurrences, 1)
	fx.scheduled = due.Occurrences[0].TaskID
	_, err = s.PauseSchedule(ctx, "hourly")
	require.NoError(t, err)
	require.NoError(t, s.CreateSchedule(ctx, db.Schedule{Name: "nightly ✓", Cron: "30 2 * * *", TZ: "Europe/Paris",
		SkipIfRunning: true, NextRunAt: c.Now().Add(23 * time.Hour),
		Task: db.NewTask{Type: "agent", Name: "report", Queue: "agents", MaxAttempts: 1, Input: json.RawMessage(`{"prompt":"résumé"}`)}}))
	last := submit(t, s, db.NewTask{Priority: 100})
	fx.pruned = last

	claim := func(want int64, lease time.Duration, queues ...string) db.Task {
		t.Helper()
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "host:1:w", Queues: queues, Limit: 1, Lease: lease})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, want, got[0].ID)
		return got[0]
	}
	finish := func(tk db.Task, out db.Outcome, evs ...db.NewEvent) {
		t.Helper()
		out.ID, out.Worker, out.Attempt = tk.ID, tk.LeaseWorker, tk.Attempts
		_, err := s.Finish(ctx, evs, []db.Outcome{out})
		require.NoError(t, err)
	}

	// The newest task finishes first and is pruned at the end.
	finish(claim(last, time.Minute), db.Outcome{Status: db.StatusCompleted, Result: json.RawMessage(`{}`)})
	prunedBefore := c.Now().Add(time.Minute)
	c.Add(time.Hour)

	_, err = s.Cancel(ctx, cancelled)
	require.NoError(t, err)
	tk := claim(done, time.Minute)
	c.Add(1234 * time.Millisecond)
	finish(tk, db.Outcome{Status: db.StatusCompleted, Result: json.RawMessage(`{"exit_code":0,"stdout":"héllo 🌍\n"}`)},
		db.NewEvent{TaskID: done, Kind: "stdout", Data: json.RawMessage(`{"text":"héllo 🌍\n"}`)},
		db.NewEvent{TaskID: done, Kind: "stderr", Data: json.RawMessage(`{"text":"tab\tquote\" backslash\\ nul\u0000 日本語"}`)},
		db.NewEvent{TaskID: done, Kind: "warning", Data: json.RawMessage(`{"message":"Ω ≈ ç √ ∫"}`)})
	finish(claim(failed, time.Minute), db.Outcome{Status: db.StatusFailed, Error: "exit code 3: ça a échoué",
		Result: json.RawMessage(`{"exit_code":3,"stderr":"non\n"}`)})
	claim(running, time.Minute)
	_, err = s.Cancel(ctx, running)
	require.NoError(t, err)
	finish(claim(retried, time.Minute), db.Outcome{Status: db.StatusFailed, Error: "boom"})
	_, err = s.Retry(ctx, retried)
	require.NoError(t, err)
	_, err = s.AppendEvents(ctx, []db.NewEvent{{TaskID: other, Kind: "note", Data: json.RawMessage(`{"text":"ünïcode 🚀"}`)}})
	require.NoError(t, err)

	// Two agent runs save a checkpoint and wait for a person; one is
	// approved (pending again, its checkpoint kept), one still waits.
	for i, id := range []int64{fx.waiting, fx.resumed} {
		tk := claim(id, time.Minute, "agents")
		ok, err := s.SaveCheckpoint(ctx, db.Checkpoint{TaskID: id, Worker: tk.LeaseWorker, Attempt: tk.Attempts,
			Data: json.RawMessage(fmt.Sprintf(`{"step":%d,"messages":[{"role":"user","text":"tidy /tmp ✓"}]}`, i+2))})
		require.NoError(t, err)
		require.True(t, ok)
		_, ok, err = s.Park(ctx, db.Park{TaskID: id, Worker: tk.LeaseWorker, Attempt: tk.Attempts, Timeout: 4 * time.Hour,
			Request: db.ApprovalRequest{CallID: fmt.Sprintf("call_%d", i), Tool: "run_command", Step: i + 2,
				Arguments: json.RawMessage(`{"argv":["rm","-rf","/tmp/é"]}`)}})
		require.NoError(t, err)
		require.True(t, ok)
		c.Add(time.Second)
	}
	_, err = s.Decide(ctx, db.Decide{TaskID: fx.resumed, Decision: db.DecisionApproved, Reason: "fine ✓", By: "ana"})
	require.NoError(t, err)

	// The running task's lease expires; a rescuer marks it (rescue_after).
	c.Add(2 * time.Minute)
	n, err := s.Rescue(ctx, db.RescueRequest{Worker: "rescuer", Grace: time.Hour})
	require.NoError(t, err)
	require.Zero(t, n)

	// Notifications: one held by a runner, one tried and due again later,
	// the others not tried yet.
	ns, err := s.ClaimNotifications(ctx, db.NotifyClaim{Worker: "host:2:n", Rules: []string{"chat"}, Limit: 2, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, ns, 2)
	ok, err := s.SettleNotification(ctx, db.NotifyOutcome{Notification: ns[0], Result: db.NotifyRetry,
		Error: "HTTP 503: indisponible", RetryIn: 10 * time.Minute})
	require.NoError(t, err)
	require.True(t, ok)

	// API tokens: one used, with an expiry; one never used.
	require.NoError(t, s.CreateToken(ctx, db.Token{Name: "ci", Hash: tokenHash("ci-secret"), Scope: db.ScopeWrite,
		ExpiresAt: c.Now().Add(30 * 24 * time.Hour)}))
	c.Add(time.Second)
	require.NoError(t, s.CreateToken(ctx, db.Token{Name: "ops ✓", Hash: tokenHash("ops-secret"), Scope: db.ScopeAdmin}))
	c.Add(time.Second)
	require.NoError(t, s.TokenUsed(ctx, "ci"))

	// A queue paused, another paused and resumed.
	for _, q := range []string{"held", "ops"} {
		_, err = s.PauseQueue(ctx, q)
		require.NoError(t, err)
		c.Add(time.Second)
	}
	_, err = s.ResumeQueue(ctx, "ops")
	require.NoError(t, err)

	n64, err := s.Prune(ctx, db.PruneFilter{FinishedBefore: prunedBefore}, false)
	require.NoError(t, err)
	require.EqualValues(t, 1, n64)

	d := readDump(t, s.(db.Copier))
	require.Len(t, d.Tasks, 12)
	byID := map[int64]db.TaskRow{}
	for _, r := range d.Tasks {
		byID[r.ID] = r
	}
	require.True(t, byID[scheduled].Scheduled)
	require.False(t, byID[scheduled].Blocked)
	require.False(t, byID[running].RescueAfter.IsZero(), "the running task carries a rescue mark")
	require.True(t, byID[running].CancelRequested)
	require.Equal(t, db.StatusPending, byID[retried].Status)
	require.Equal(t, db.StatusWaiting, byID[fx.waiting].Status)
	require.Equal(t, db.StatusPending, byID[fx.resumed].Status)
	for _, id := range fx.blocked {
		require.True(t, byID[id].Blocked, "task %d is blocked", id)
		require.False(t, byID[id].Scheduled)
		require.Equal(t, db.StatusPending, byID[id].Status)
	}
	require.Len(t, d.Approvals, 2)
	require.True(t, d.Approvals[0].Open())
	require.Equal(t, db.DecisionApproved, d.Approvals[1].Decision)
	require.Len(t, d.Checkpoints, 2)
	require.Len(t, d.Dependencies, 3)
	require.Len(t, d.Schedules, 2)
	require.True(t, d.Schedules[0].Paused)
	require.Equal(t, fx.scheduled, d.Schedules[0].LastTaskID)
	require.Equal(t, []db.QueueState{{Name: "held", Paused: true, UpdatedAt: d.Queues[0].UpdatedAt},
		{Name: "ops", UpdatedAt: d.Queues[1].UpdatedAt}}, d.Queues)
	require.Len(t, d.NotifyRules, 4)
	// chat: failed, cancelled, waiting x2, failed (retried); pager: none
	// (its queue is ops).
	require.Len(t, d.Notifications, 5)
	var held, tried int
	for _, o := range d.Notifications {
		if o.LeaseWorker != "" && o.LastError == "" {
			held++
		}
		if o.LastError != "" {
			tried++
		}
	}
	require.Equal(t, 1, held)
	require.Equal(t, 1, tried)
	return fx
}

// Every row of every table a copy moves arrives unchanged, from each
// backend to each (the times of a filled source are whole milliseconds,
// which SQLite keeps); afterwards no backend hands out an id the source
// had handed out, not even the pruned task's, and what waited still waits:
// the blocked tasks for their dependencies, the waiting task for a
// decision it can now get, the paused queue for its resume.
func TestCopyAllPairs(t *testing.T) {
	t.Parallel()
	for _, from := range backends() {
		t.Run("from_"+string(from), func(t *testing.T) {
			t.Parallel()
			c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			src := openBackend(t, from, db.Options{Now: c.Now}).(db.Copier)
			fx := fillForCopy(t, src, c)
			want := readDump(t, src)
			for _, to := range backends() {
				t.Run("to_"+string(to), func(t *testing.T) {
					dst := openBackend(t, to, db.Options{Now: c.Now}).(db.Copier)
					var schema []string
					if to == db.PostgresDialect {
						schema = pgSchema(t, dst.Location())
					}
					st := copyAll(t, src, dst)
					require.Equal(t, db.CopyStats{CopyCounts: want.counts(), Elapsed: st.Elapsed}, st)
					require.Equal(t, want, readDump(t, dst))
					if to == db.PostgresDialect {
						require.Equal(t, schema, pgSchema(t, dst.Location()), "indexes and keys are as the migrations made them")
					}
					checkCopied(t, dst, fx, want)
				})
			}
		})
	}
}

// checkCopied uses a copy: ids are not reused, and the copied state works.
func checkCopied(t *testing.T, s db.Copier, fx copyFixture, want dump) {
	t.Helper()
	ctx := context.Background()
	tok, err := s.TokenByHash(ctx, tokenHash("ci-secret"))
	require.NoError(t, err)
	require.Equal(t, "ci", tok.Name)

	blocked, err := s.BlockedBy(ctx, fx.blocked)
	require.NoError(t, err)
	require.Len(t, blocked, 2, "both dependants still wait")
	// Nothing is claimable outside the paused queue but what was: the
	// blocked tasks are not.
	got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w2", Queues: []string{"default", "held"}, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	for _, tk := range got {
		require.NotContains(t, fx.blocked, tk.ID)
	}
	qs, err := s.Queues(ctx)
	require.NoError(t, err)
	for _, q := range qs {
		require.Equal(t, q.Name == "held", q.Paused, q.Name)
	}

	cp, ok, err := s.LoadCheckpoint(ctx, fx.waiting)
	require.NoError(t, err)
	require.True(t, ok)
	require.JSONEq(t, `{"step":2,"messages":[{"role":"user","text":"tidy /tmp ✓"}]}`, string(cp.Data))
	open, err := s.Approvals(ctx)
	require.NoError(t, err)
	require.Len(t, open, 1)
	require.Equal(t, fx.waiting, open[0].TaskID)
	a, err := s.Decide(ctx, db.Decide{TaskID: fx.waiting, Decision: db.DecisionDenied, Reason: "no", By: "bo"})
	require.NoError(t, err)
	require.Equal(t, open[0].ID, a.ID)

	// New rows get ids past the source's: a task, its event, an approval
	// and the notification it owes.
	id := submit(t, s, db.NewTask{})
	require.Greater(t, id, fx.pruned, "a new task must not reuse an id")
	_, err = s.AppendEvents(ctx, []db.NewEvent{{TaskID: id, Kind: "note"}})
	require.NoError(t, err)
	evs, err := s.Events(ctx, id, 0, 0)
	require.NoError(t, err)
	require.Greater(t, evs[0].ID, want.Events[len(want.Events)-1].ID)
	tks, err := s.Claim(ctx, db.ClaimRequest{Worker: "w3", Queues: []string{"agents"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, tks, 1)
	a, ok, err = s.Park(ctx, db.Park{TaskID: tks[0].ID, Worker: "w3", Attempt: tks[0].Attempts, Timeout: time.Hour,
		Request: db.ApprovalRequest{CallID: "call_9", Tool: "run_command", Step: 9}})
	require.NoError(t, err)
	require.True(t, ok)
	require.Greater(t, a.ID, want.Approvals[len(want.Approvals)-1].ID)
	after := readDump(t, s)
	require.Greater(t, after.Notifications[len(after.Notifications)-1].ID, want.Notifications[len(want.Notifications)-1].ID)
}

// Times PostgreSQL keeps in microseconds stay so from one PostgreSQL
// database to another (SQLite keeps milliseconds).
func TestCopyPostgresToPostgresKeepsMicroseconds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := copyTarget(t, db.PostgresDialect) // the server's clock: microseconds
	submit(t, src, db.NewTask{})
	submit(t, src, db.NewTask{RunAfter: time.Now().Add(time.Hour)})
	got, err := src.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	_, err = src.Finish(ctx, []db.NewEvent{{TaskID: got[0].ID, Kind: "stdout", Data: json.RawMessage(`{"text":"x"}`)}},
		[]db.Outcome{{ID: got[0].ID, Worker: "w", Attempt: 1, Status: db.StatusCompleted}})
	require.NoError(t, err)
	require.NoError(t, src.CreateToken(ctx, db.Token{Name: "t", Hash: tokenHash("t"), Scope: db.ScopeRead}))
	require.NoError(t, src.TokenUsed(ctx, "t"))
	// The other tables' times too: a checkpoint, an approval request, the
	// notification it owes, a paused queue, a schedule.
	require.NoError(t, src.RegisterNotifyRules(ctx, []db.NotifyRule{{Key: "r", On: []db.Status{db.StatusWaiting}}}))
	id := submit(t, src, db.NewTask{Type: "agent", Queue: "agents"})
	got, err = src.Claim(ctx, db.ClaimRequest{Worker: "w", Queues: []string{"agents"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Equal(t, id, got[0].ID)
	ok, err := src.SaveCheckpoint(ctx, db.Checkpoint{TaskID: id, Worker: "w", Attempt: 1, Data: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = src.Park(ctx, db.Park{TaskID: id, Worker: "w", Attempt: 1, Timeout: time.Hour,
		Request: db.ApprovalRequest{CallID: "c", Tool: "t"}})
	require.NoError(t, err)
	require.True(t, ok)
	_, err = src.PauseQueue(ctx, "q")
	require.NoError(t, err)
	require.NoError(t, src.CreateSchedule(ctx, everySchedule("s", time.Minute, time.Now())))
	want := readDump(t, src)
	require.Len(t, want.Notifications, 1)
	require.NotZero(t, want.Tasks[0].CreatedAt.Nanosecond()%int(time.Millisecond), "the source has sub-millisecond times")
	require.NotZero(t, want.Tokens[0].LastUsedAt.Nanosecond()%int(time.Millisecond), "the source has sub-millisecond times")
	dst := copyTarget(t, db.PostgresDialect)
	copyAll(t, src, dst)
	require.Equal(t, want, readDump(t, dst))
}

// A target that holds tasks is refused before anything is written.
func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	t.Parallel()
	for _, d := range backends() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := copyTarget(t, db.SQLiteDialect)
			submit(t, src, db.NewTask{})
			submit(t, src, db.NewTask{})
			dst := copyTarget(t, d)
			id := submit(t, dst, db.NewTask{Name: "mine"})
			_, err := dst.Cancel(ctx, id)
			require.NoError(t, err)
			before := readDump(t, dst)
			require.Len(t, before.Events, 1)

			_, err = db.Copy(ctx, src, dst, db.CopyOptions{})
			var ne *db.NotEmptyError
			require.ErrorAs(t, err, &ne)
			require.EqualValues(t, 1, ne.Tasks)
			require.Contains(t, err.Error(), "already holds 1 tasks")
			require.Equal(t, before, readDump(t, dst))

			// A target that holds only API tokens is refused too: a copy
			// would have to choose between its tokens and the source's.
			onlyTokens := copyTarget(t, d)
			require.NoError(t, onlyTokens.CreateToken(ctx, db.Token{Name: "mine", Hash: tokenHash("mine"), Scope: db.ScopeRead}))
			before = readDump(t, onlyTokens)
			_, err = db.Copy(ctx, src, onlyTokens, db.CopyOptions{})
			require.ErrorAs(t, err, &ne)
			require.EqualValues(t, 1, ne.Tokens)
			require.Contains(t, err.Error(), "already holds 1 API tokens")
			require.Equal(t, before, readDump(t, onlyTokens))

			// So is one that holds only a schedule, or a queue's pause.
			onlySchedule := copyTarget(t, d)
			require.NoError(t, onlySchedule.CreateSchedule(ctx, everySchedule("mine", time.Minute, time.Now())))
			before = readDump(t, onlySchedule)
			_, err = db.Copy(ctx, src, onlySchedule, db.CopyOptions{})
			require.ErrorAs(t, err, &ne)
			require.EqualValues(t, 1, ne.Schedules)
			require.Contains(t, err.Error(), "already holds 1 schedules:")
			require.Equal(t, before, readDump(t, onlySchedule))
			require.NoError(t, onlySchedule.CreateToken(ctx, db.Token{Name: "mine", Hash: tokenHash("mine"), Scope: db.ScopeRead}))
			_, err = onlySchedule.PauseQueue(ctx, "q")
			require.NoError(t, err)
			_, err = db.Copy(ctx, src, onlySchedule, db.CopyOptions{})
			require.ErrorContains(t, err, "already holds 1 API tokens, 1 schedules and 1 queues paused or resumed:")

			onlyQueue := copyTarget(t, d)
			_, err = onlyQueue.PauseQueue(ctx, "q")
			require.NoError(t, err)
			_, err = onlyQueue.ResumeQueue(ctx, "q")
			require.NoError(t, err)
			before = readDump(t, onlyQueue)
			_, err = db.Copy(ctx, src, onlyQueue, db.CopyOptions{})
			require.ErrorAs(t, err, &ne)
			require.EqualValues(t, 1, ne.Queues)
			require.Contains(t, err.Error(), "already holds 1 queues paused or resumed:")
			require.Equal(t, before, readDump(t, onlyQueue))
		})
	}
}

// Notify rules a runner registered on the target before the copy do not
// refuse it: the source's merge in, and of a rule both have, the one seen
// last wins. The source's undelivered notifications keep their rule, so
// the target's runners deliver them rather than give them up.
func TestCopyMergesNotifyRules(t *testing.T) {
	t.Parallel()
	for _, d := range backends() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			src := openBackend(t, db.SQLiteDialect, db.Options{Now: c.Now}).(db.Copier)
			require.NoError(t, src.RegisterNotifyRules(ctx, []db.NotifyRule{
				{Key: "old", On: []db.Status{db.StatusCancelled}},
				{Key: "both", On: []db.Status{db.StatusCancelled}}}))
			id := submit(t, src, db.NewTask{})
			_, err := src.Cancel(ctx, id)
			require.NoError(t, err)

			c.Add(time.Hour)
			dst := openBackend(t, d, db.Options{Now: c.Now}).(db.Copier)
			require.NoError(t, dst.RegisterNotifyRules(ctx, []db.NotifyRule{
				{Key: "both", On: []db.Status{db.StatusCancelled}, Queue: "is"},
				{Key: "new", On: []db.Status{db.StatusFailed}}}))
			want := readDump(t, dst).NotifyRules
			srcDump := readDump(t, src)
			require.Len(t, srcDump.Notifications, 2)
			want = append(want, srcDump.NotifyRules[1]) // cancelled/old
			st := copyAll(t, src, dst)
			require.EqualValues(t, 2, st.NotifyRules)
			got := readDump(t, dst)
			require.ElementsMatch(t, want, got.NotifyRules)
			require.Equal(t, srcDump.Notifications, got.Notifications)

			// A runner with the target's rules registers them again: the
			// copied notifications of rules it knows are kept.
			require.NoError(t, dst.RegisterNotifyRules(ctx, []db.NotifyRule{{Key: "both", On: []db.Status{db.StatusCancelled}}}))
			require.Len(t, readDump(t, dst).Notifications, 2)
		})
	}
}

// A copy that stops part way (here: cancelled after its first chunk)
// leaves the target without a task or an event, and with its indexes and
// keys; the next copy succeeds.
func TestCopyFailureLeavesTargetEmpty(t *testing.T) {
	t.Parallel()
	for _, d := range backends() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			src := copyTarget(t, db.SQLiteDialect)
			for range 5 {
				id := submit(t, src, db.NewTask{})
				_, err := src.Cancel(context.Background(), id)
				require.NoError(t, err)
			}
			dst := copyTarget(t, d)
			var schema []string
			if d == db.PostgresDialect {
				schema = pgSchema(t, dst.Location())
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := db.Copy(ctx, src, dst, db.CopyOptions{Chunk: 2, Progress: func(done, _ int64) {
				if done > 0 {
					cancel()
				}
			}})
			require.ErrorIs(t, err, context.Canceled)
			require.Equal(t, emptyDump(), readDump(t, dst))
			if d == db.PostgresDialect {
				require.Equal(t, schema, pgSchema(t, dst.Location()))
			}
			st := copyAll(t, src, dst)
			require.EqualValues(t, 5, st.Tasks)
			require.EqualValues(t, 5, st.Events)
		})
	}
}

// Text PostgreSQL refuses in a json column fails the copy with the ids of
// the chunk, and leaves the target empty.
func TestCopyInvalidJSONFailsWhole(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "src.db")
	src := dbtest.Open(t, db.Options{Path: path})
	for range 3 {
		submit(t, src, db.NewTask{})
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer raw.Close()
	_, err = raw.Exec(`INSERT INTO task_events (task_id, at, kind, data) VALUES (2, 0, 'stdout', 'not json')`)
	require.NoError(t, err)

	dst := copyTarget(t, db.PostgresDialect)
	_, err = db.Copy(context.Background(), src, dst, db.CopyOptions{})
	require.ErrorContains(t, err, "write events 1 to 1")
	require.ErrorContains(t, err, "json")
	require.Equal(t, emptyDump(), readDump(t, dst))
}

// pgSchema lists the indexes and constraints of the copied tables as the
// catalog states them.
func pgSchema(t testing.TB, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url) // test URLs have no password: the location is the URL
	require.NoError(t, err)
	defer conn.Close(ctx)
	tables := []string{"tasks", "task_events", "approvals", "task_checkpoints", "task_deps", "notify_outbox",
		"tokens", "schedules", "queues", "notify_rules"}
	rows, err := conn.Query(ctx, `SELECT tablename || ' ' || indexdef FROM pg_indexes WHERE tablename = ANY($1)
		UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid::regclass::text = ANY($1)
		ORDER BY 1`, tables)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, out)
	return out
}

// BenchmarkCopy copies 10,000 tasks with 5 events each, SQLite to each
// backend, and reports rows (tasks and events) per second. The 1M-task
// figure is measured with the command (opsctl db copy) on a file filled
// beforehand.
func BenchmarkCopy(b *testing.B) {
	const tasks, perTask = 10_000, 5
	ctx := context.Background()
	src := dbtest.Open(b, db.Options{Path: filepath.Join(b.TempDir(), "src.db")})
	nts := make([]db.NewTask, tasks)
	for i := range nts {
		nts[i] = db.NewTask{Type: "exec", Input: json.RawMessage(fmt.Sprintf(`{"command":["echo","task %d"]}`, i))}
	}
	rs, err := src.SubmitBatch(ctx, nts)
	require.NoError(b, err)
	evs := make([]db.NewEvent, 0, tasks*perTask)
	for _, r := range rs {
		for j := range perTask {
			evs = append(evs, db.NewEvent{TaskID: r.ID, Kind: "stdout", Data: json.RawMessage(fmt.Sprintf(`{"text":"line %d of task %d\n"}`, j, r.ID))})
		}
	}
	_, err = src.AppendEvents(ctx, evs)
	require.NoError(b, err)
	for _, d := range backends() {
		b.Run(string(d), func(b *testing.B) {
			var rows int64
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				dst := copyTarget(b, d)
				b.StartTimer()
				st, err := db.Copy(ctx, src, dst, db.CopyOptions{})
				require.NoError(b, err)
				rows += st.Tasks + st.Events
				elapsed += st.Elapsed
			}
			b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
		})
	}
}
