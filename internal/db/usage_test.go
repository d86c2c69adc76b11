package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// Usage sums up the tasks that finished since a time, by model, queue or
// type: counts, failures, and the tokens and cost in their results. What
// a result does not hold (exec tasks, no price, a bad value) adds nothing.
func TestUsage(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		// finish submits a task, claims it and records status with result.
		finish := func(typ, queue string, status db.Status, result string) {
			t.Helper()
			submit(t, s, db.NewTask{Type: typ, Queue: queue})
			got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Queues: []string{queue}, Types: []string{typ}, Limit: 1, Lease: time.Hour})
			require.NoError(t, err)
			require.Len(t, got, 1)
			c.Add(time.Second)
			out := db.Outcome{ID: got[0].ID, Worker: "w", Attempt: got[0].Attempts, Status: status}
			if result != "" {
				out.Result = json.RawMessage(result)
			}
			if status != db.StatusCompleted {
				out.Error = "no"
			}
			fr, err := s.Finish(ctx, nil, []db.Outcome{out})
			require.NoError(t, err)
			require.Empty(t, fr.Lost)
		}
		agent := func(model string, in, cached, out int64, cost string) string {
			r := map[string]any{"answer": "a", "stop_reason": "answer", "steps": 1, "provider": "openai", "model": model,
				"usage": map[string]any{"input_tokens": in, "output_tokens": out, "total_tokens": in + out, "cached_input_tokens": cached}}
			if cost != "" {
				r["cost_usd"] = json.RawMessage(cost)
			}
			b, err := json.Marshal(r)
			require.NoError(t, err)
			return string(b)
		}

		for _, by := range db.UsageGroupings() {
			rows, err := s.Usage(ctx, time.Time{}, by)
			require.NoError(t, err)
			require.Equal(t, []db.UsageRow{}, rows, "an empty store, by %s", by)
		}
		_, err := s.Usage(ctx, time.Time{}, "status")
		require.EqualError(t, err, `usage: cannot group by "status": want model, queue, type`)

		finish("agent", "default", db.StatusCompleted, agent("gpt-4o", 900, 0, 100, "0.5")) // before since
		c.Add(time.Hour)
		since := c.Now()
		finish("agent", "default", db.StatusCompleted, agent("gpt-4o", 1000, 800, 50, "0.0035"))
		finish("agent", "ops", db.StatusFailed, agent("gpt-4o", 2000, 0, 0, "0.005"))
		finish("agent", "ops", db.StatusCompleted, agent("claude-sonnet-4-5", 300, 0, 30, "")) // no price
		finish("agent", "ops", db.StatusFailed, `{"stop_reason":"setup_error","steps":0,"usage":{"input_tokens":0,"output_tokens":0,"total_tokens":0},"provider":"openai","model":""}`)
		finish("exec", "default", db.StatusCompleted, `{"exit_code":0,"stdout":"hi\n"}`)
		finish("exec", "ops", db.StatusFailed, `{"exit_code":3}`)
		// Values of the wrong kind are left out rather than failing the sum.
		finish("agent", "default", db.StatusCompleted, `{"model":7,"usage":{"input_tokens":"many","output_tokens":4.9,"total_tokens":[1]},"cost_usd":"0.1"}`)
		finish("agent", "default", db.StatusCompleted, `[1,2,3]`)
		finish("agent", "default", db.StatusCompleted, `"just text"`)
		cancelled := submit(t, s, db.NewTask{Type: "agent", Queue: "ops"})
		_, err = s.Cancel(ctx, cancelled) // never ran: no result
		require.NoError(t, err)
		submit(t, s, db.NewTask{Type: "agent"}) // pending: not counted
		running := submit(t, s, db.NewTask{Type: "exec", Queue: "slow"})
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Queues: []string{"slow"}, Limit: 1, Lease: time.Hour})
		require.NoError(t, err)
		require.Equal(t, running, got[0].ID) // running: not counted

		byModel, err := s.Usage(ctx, since, db.UsageByModel)
		require.NoError(t, err)
		requireUsage(t, []db.UsageRow{
			{Key: "", Tasks: 7, Failed: 2, OutputTokens: 4},
			{Key: "claude-sonnet-4-5", Tasks: 1, InputTokens: 300, OutputTokens: 30, TotalTokens: 330},
			{Key: "gpt-4o", Tasks: 2, Failed: 1, InputTokens: 3000, CachedInputTokens: 800, OutputTokens: 50, TotalTokens: 3050,
				CostUSD: 0.0085, Costed: 2},
		}, byModel)

		byQueue, err := s.Usage(ctx, since, db.UsageByQueue)
		require.NoError(t, err)
		requireUsage(t, []db.UsageRow{
			{Key: "default", Tasks: 5, InputTokens: 1000, CachedInputTokens: 800, OutputTokens: 54, TotalTokens: 1050,
				CostUSD: 0.0035, Costed: 1},
			{Key: "ops", Tasks: 5, Failed: 3, InputTokens: 2300, OutputTokens: 30, TotalTokens: 2330, CostUSD: 0.005, Costed: 1},
		}, byQueue)

		byType, err := s.Usage(ctx, since, db.UsageByType)
		require.NoError(t, err)
		requireUsage(t, []db.UsageRow{
			{Key: "agent", Tasks: 8, Failed: 2, InputTokens: 3300, CachedInputTokens: 800, OutputTokens: 84, TotalTokens: 3380,
				CostUSD: 0.0085, Costed: 2},
			{Key: "exec", Tasks: 2, Failed: 1},
		}, byType)

		// All time takes the task before since too; a since ahead of every
		// finish takes none.
		all, err := s.Usage(ctx, time.Time{}, db.UsageByType)
		require.NoError(t, err)
		require.Equal(t, int64(9), all[0].Tasks)
		require.InDelta(t, 0.5085, all[0].CostUSD, 1e-9)
		require.Equal(t, int64(3), all[0].Costed)
		none, err := s.Usage(ctx, c.Now().Add(time.Minute), db.UsageByModel)
		require.NoError(t, err)
		require.Empty(t, none)
	})
}

// requireUsage compares rows, costs within rounding (the backends add
// floating-point numbers in their own order).
func requireUsage(t *testing.T, want, got []db.UsageRow) {
	t.Helper()
	require.Len(t, got, len(want), "%+v", got)
	for i := range want {
		require.InDelta(t, want[i].CostUSD, got[i].CostUSD, 1e-12, want[i].Key)
		g := got[i]
		g.CostUSD = want[i].CostUSD
		require.Equal(t, want[i], g)
	}
}
