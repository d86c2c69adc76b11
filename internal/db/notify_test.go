package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// notifyClaim claims the due notifications of rules as worker w.
func notifyClaim(t *testing.T, s db.Store, w string, rules ...string) []db.Notification {
	t.Helper()
	ns, err := s.ClaimNotifications(context.Background(), db.NotifyClaim{Worker: w, Rules: rules, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	return ns
}

// notifyEvents are the data of a task's notification events, by kind.
func notifyEvents(t *testing.T, s db.Store, id int64) []string {
	t.Helper()
	evs, err := s.Events(context.Background(), id, 0, 0)
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		if e.Kind == db.EventNotified || e.Kind == db.EventNotifyFailed {
			var m map[string]any
			require.NoError(t, json.Unmarshal(e.Data, &m))
			b, _ := json.Marshal(m) // keys sorted: the same text on both backends
			out = append(out, e.Kind+" "+string(b))
		}
	}
	return out
}

// finishAs submits a task of queue q, claims it as w and stores status st.
func finishAs(t *testing.T, s db.Store, q, w string, st db.Status) int64 {
	t.Helper()
	id := submit(t, s, db.NewTask{Queue: q, Input: json.RawMessage(`{"shell":"true"}`)})
	ids := flowClaim(t, s, w)
	require.Equal(t, []int64{id}, ids)
	flowFinish(t, s, id, w, st)
	return id
}

func TestNotifyOutboxExactlyOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		// Nothing registered: a failing task records nothing.
		quiet := finishAs(t, s, "nightly", "w", db.StatusFailed)
		require.NoError(t, s.RegisterNotifyRules(ctx, []db.NotifyRule{
			{Key: "page", On: []db.Status{db.StatusFailed}, Queue: "nightly"},
			{Key: "all", On: []db.Status{db.StatusFailed, db.StatusCompleted}},
		}))
		require.Empty(t, notifyClaim(t, s, "a", "page", "all"), "transitions before the rules are not notified")

		failed := finishAs(t, s, "nightly", "w", db.StatusFailed)
		finishAs(t, s, "other", "w", db.StatusCancelled) // no rule listens for cancelled
		done := finishAs(t, s, "other", "w", db.StatusCompleted)
		c.Add(time.Second)

		got := notifyClaim(t, s, "a", "page")
		require.Len(t, got, 1)
		n := got[0]
		require.Equal(t, db.Notification{ID: n.ID, TaskID: failed, Status: db.StatusFailed, Rule: "page",
			CreatedAt: c.Now().Add(-time.Second), Attempt: 1, Worker: "a"}, n)
		require.Empty(t, notifyClaim(t, s, "b", "page"), "a claimed row is held")

		all := notifyClaim(t, s, "b", "all")
		require.Len(t, all, 2)
		require.Equal(t, []int64{failed, done}, []int64{all[0].TaskID, all[1].TaskID})

		ok, err := s.SettleNotification(ctx, db.NotifyOutcome{Notification: n, Result: db.NotifyDelivered, Detail: "command page-me: exit 0"})
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.SettleNotification(ctx, db.NotifyOutcome{Notification: n, Result: db.NotifyDelivered})
		require.NoError(t, err)
		require.False(t, ok, "a settled row is gone")
		ok, err = s.SettleNotification(ctx, db.NotifyOutcome{Notification: all[1], Result: db.NotifySkipped})
		require.NoError(t, err)
		require.True(t, ok)

		require.Equal(t, []string{`notified {"attempts":1,"detail":"command page-me: exit 0","rule":"page","status":"failed"}`},
			notifyEvents(t, s, failed))
		require.Empty(t, notifyEvents(t, s, done), "a skipped row writes no event")
		require.Empty(t, notifyEvents(t, s, quiet))
		c.Add(2 * time.Minute)
		require.Equal(t, []int64{failed}, []int64{notifyClaim(t, s, "c", "page", "all")[0].TaskID},
			"only the unsettled row of rule all comes back after its lease")
	})
}

func TestNotifyRetryAndLease(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		require.NoError(t, s.RegisterNotifyRules(ctx, []db.NotifyRule{{Key: "hook", On: []db.Status{db.StatusFailed}}}))
		id := finishAs(t, s, "", "w", db.StatusFailed)

		// A failed try comes back after its backoff, with its reason.
		n := notifyClaim(t, s, "a", "hook")[0]
		ok, err := s.SettleNotification(ctx, db.NotifyOutcome{Notification: n, Result: db.NotifyRetry, Error: "HTTP 500", RetryIn: 10 * time.Second})
		require.NoError(t, err)
		require.True(t, ok)
		c.Add(9 * time.Second)
		require.Empty(t, notifyClaim(t, s, "a", "hook"))
		c.Add(time.Second)
		n = notifyClaim(t, s, "a", "hook")[0]
		require.Equal(t, 2, n.Attempt)
		require.Equal(t, "HTTP 500", n.LastError)

		// A runner killed mid-delivery: its lease ends, another claims the
		// row, and the first one's late outcome is refused.
		require.Empty(t, notifyClaim(t, s, "b", "hook"))
		c.Add(time.Minute)
		m := notifyClaim(t, s, "b", "hook")[0]
		require.Equal(t, 3, m.Attempt)
		ok, err = s.SettleNotification(ctx, db.NotifyOutcome{Notification: n, Result: db.NotifyDelivered})
		require.NoError(t, err)
		require.False(t, ok, "the lease was lost")
		ok, err = s.SettleNotification(ctx, db.NotifyOutcome{Notification: m, Result: db.NotifyGaveUp, Error: "HTTP 500"})
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, []string{`notify_failed {"attempts":3,"error":"HTTP 500","rule":"hook","status":"failed"}`}, notifyEvents(t, s, id))
		c.Add(time.Hour)
		require.Empty(t, notifyClaim(t, s, "b", "hook"))
	})
}

func TestNotifyEveryPathAndPrune(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		require.NoError(t, s.RegisterNotifyRules(ctx, []db.NotifyRule{{Key: "r", On: db.NotifyStatuses(), Type: "agent"}}))
		// Cancel of a pending task, a wait for approval, the rescue of a
		// lost lease: each transition is one row.
		pending := submit(t, s, db.NewTask{Type: "agent", Input: json.RawMessage(`{"prompt":"p"}`)})
		_, err := s.Cancel(ctx, pending)
		require.NoError(t, err)
		waiting := claimOne(t, s, "w")
		park(t, s, waiting, "w")
		lost := submit(t, s, db.NewTask{Type: "agent", Input: json.RawMessage(`{"prompt":"p"}`)})
		require.Equal(t, []int64{lost}, flowClaim(t, s, "w"))
		c.Add(2 * time.Minute)
		for range 2 { // a rescue takes an expired lease on its second pass
			_, err = s.Rescue(ctx, db.RescueRequest{Worker: "r", Grace: time.Second})
			require.NoError(t, err)
			c.Add(2 * time.Second)
		}
		require.Equal(t, "failed worker lost", flowState(t, s, lost)[:len("failed worker lost")])
		exec := finishAs(t, s, "", "w", db.StatusFailed) // type exec: filtered out by the trigger
		got := map[int64]db.Status{}
		for _, n := range notifyClaim(t, s, "a", "r") {
			got[n.TaskID] = n.Status
		}
		require.Equal(t, db.StatusCancelled, got[pending])
		require.Equal(t, db.StatusWaiting, got[waiting.ID])
		require.NotContains(t, got, exec)
		require.Equal(t, db.StatusFailed, got[lost])
		require.Len(t, got, 3)

		// Pruning a task with an undelivered row deletes the row.
		c.Add(time.Hour)
		n, err := s.Prune(ctx, db.PruneFilter{FinishedBefore: c.Now()}, false)
		require.NoError(t, err)
		require.Positive(t, n)
		c.Add(time.Hour)
		for _, n := range notifyClaim(t, s, "a", "r") {
			require.Equal(t, waiting.ID, n.TaskID, "only the waiting task is left")
		}
	})
}

func TestNotifyRulesForgotten(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		require.NoError(t, s.RegisterNotifyRules(ctx, []db.NotifyRule{{Key: "old", On: []db.Status{db.StatusCompleted}}}))
		id := finishAs(t, s, "", "w", db.StatusCompleted)
		// The rule stops listening for completed: later tasks record nothing.
		require.NoError(t, s.RegisterNotifyRules(ctx, []db.NotifyRule{{Key: "old", On: []db.Status{db.StatusFailed}}}))
		finishAs(t, s, "", "w", db.StatusCompleted)
		c.Add(db.NotifyRuleForgetAfter + time.Second)
		require.NoError(t, s.RegisterNotifyRules(ctx, []db.NotifyRule{{Key: "new", On: []db.Status{db.StatusFailed}}}))
		require.Empty(t, notifyClaim(t, s, "a", "old"))
		require.Equal(t, []string{`notify_failed {"attempts":0,"error":"no runner has had rule old for 7 days","rule":"old","status":"completed"}`},
			notifyEvents(t, s, id))

		require.ErrorContains(t, s.RegisterNotifyRules(ctx, []db.NotifyRule{{Key: "x", On: []db.Status{db.StatusRunning}}}),
			`rule "x": no notification is sent for status "running"`)
	})
}
