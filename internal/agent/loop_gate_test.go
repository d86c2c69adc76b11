package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// The loop's gates: the cost budget stops a run before its next model
// call; the approval policy denies, and asks only when the run can wait.

func TestRunCostBudgetStops(t *testing.T) {
	t.Parallel()
	steps := make([]step, 0, 5)
	for i := range 5 {
		steps = append(steps, callTools(call(fmt.Sprintf("c%d", i), ToolCurrentTime, fmt.Sprintf(`{"n":%d}`, i))))
	}
	f := newFixture(t, nil, steps...)
	// 10 input and 5 output tokens a call: $0.01 + $0.01.
	f.h.Config.Prices = map[string]Price{"gpt-test": {InputPerMTok: 1000, OutputPerMTok: 2000}}
	res, err := f.run(t, context.Background(), `{"prompt":"p","max_cost_usd":0.03}`)
	require.EqualError(t, err, "cost budget exceeded (spent $0.04 of $0.03)")
	require.Equal(t, StopCostBudget, res.StopReason)
	require.Equal(t, 2, res.Steps)
	require.NotNil(t, res.CostUSD)
	require.InDelta(t, 0.04, *res.CostUSD, 1e-9)
	require.Len(t, f.prov.received(), 2, "no model call past the budget")
	for _, raw := range f.events.ofKind(EventModel) {
		var ev ModelEvent
		require.NoError(t, json.Unmarshal(raw, &ev))
		require.NotNil(t, ev.CostUSD)
		require.InDelta(t, 0.02, *ev.CostUSD, 1e-9)
	}
}

func TestRunCostBudgetNeedsAPrice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, answer("never"))
	res, err := f.run(t, context.Background(), `{"prompt":"p","max_cost_usd":1}`)
	require.ErrorContains(t, err, `agent.prices has no price for model "gpt-test"`)
	require.Equal(t, StopSetupError, res.StopReason)
	require.Empty(t, f.prov.received())
	// Without a budget, an unknown price only leaves the cost out.
	f = newFixture(t, nil, answer("ok"))
	res, err = f.run(t, context.Background(), `{"prompt":"p"}`)
	require.NoError(t, err)
	require.Nil(t, res.CostUSD)
}

func TestRunPolicyDenyAndAskWithoutStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, []Tool{echoTool()},
		callTools(call("c1", ToolCurrentTime, `{}`), call("c2", "util__echo", `{"text":"x"}`)),
		answer("done"))
	f.h.Config.Tools = []string{ToolCurrentTime, "util__echo"}
	f.h.Config.Approval = map[string]string{"current_time": PolicyDeny, "util__*": PolicyAsk}
	res, err := f.run(t, context.Background(), `{"prompt":"p"}`)
	require.NoError(t, err)
	require.Equal(t, "done", res.Answer)
	results := toolResults(t, f.prov.received()[1])
	require.Len(t, results, 2)
	require.True(t, results[0].IsError)
	require.Contains(t, results[0].Content, "the tool current_time is not allowed by the approval policy")
	require.True(t, results[1].IsError)
	require.Contains(t, results[1].Content, "needs a person's approval, and this run cannot wait for one")
	// Both calls are in the transcript, with their error results.
	require.Len(t, f.events.ofKind(EventToolCall), 2)
	require.Len(t, f.events.ofKind(EventToolResult), 2)
}

// memCheckpoints keeps a run's checkpoint and approval in memory, as the
// runner's events keep them in the store.
type memCheckpoints struct {
	*recorder
	data     json.RawMessage
	approval db.Approval
	has      bool
	saves    int
}

func (m *memCheckpoints) LoadCheckpoint(context.Context) (json.RawMessage, bool, error) {
	return m.data, m.data != nil, nil
}

func (m *memCheckpoints) SaveCheckpoint(_ context.Context, data json.RawMessage) error {
	m.data = append(json.RawMessage(nil), data...)
	m.saves++
	return nil
}

func (m *memCheckpoints) LastApproval(context.Context) (db.Approval, bool, error) {
	return m.approval, m.has, nil
}

func TestRunWaitsAndResumes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, []Tool{echoTool()},
		callTools(call("c1", ToolCurrentTime, `{}`), call("c2", "util__echo", `{"text":"`+testKey+`"}`)),
		answer("done"))
	f.h.Config.Tools = []string{ToolCurrentTime, "util__echo"}
	f.h.Config.Approval = map[string]string{"util__echo": PolicyAsk}
	cps := &memCheckpoints{recorder: f.events}

	raw, err := f.h.Run(context.Background(), json.RawMessage(`{"prompt":"p"}`), cps)
	var w *WaitError
	require.ErrorAs(t, err, &w)
	require.Nil(t, raw)
	require.Equal(t, "util__echo", w.Request.Tool)
	require.Equal(t, "c2", w.Request.CallID)
	require.Equal(t, 1, w.Request.Step)
	require.Equal(t, DefaultApprovalTimeout, w.Timeout)
	require.NotContains(t, string(w.Request.Arguments), testKey, "arguments are redacted")
	require.NotContains(t, string(cps.data), testKey, "the checkpoint is redacted")
	require.Len(t, f.prov.received(), 1)
	require.Len(t, f.events.ofKind(EventToolResult), 1, "the allowed call ran before the wait")

	// Approved: the run goes on from the checkpoint; the first model call
	// is not made again, and current_time does not run twice.
	cps.approval, cps.has = db.Approval{ApprovalRequest: db.ApprovalRequest{CallID: "c2"}, Decision: db.DecisionApproved}, true
	res, err := f.run2(t, cps)
	require.NoError(t, err)
	require.Equal(t, "done", res.Answer)
	require.Equal(t, 2, res.Steps)
	require.Equal(t, int64(30), res.Usage.TotalTokens, "usage carries over")
	require.Len(t, f.prov.received(), 2)
	results := toolResults(t, f.prov.received()[1])
	require.Len(t, results, 2)
	require.False(t, results[1].IsError)
	require.Len(t, f.events.ofKind(EventToolResult), 2, "current_time ran once")
	require.Empty(t, f.events.ofKind(EventWarning), "a resume after a decision warns of nothing")
}

// run2 runs the fixture's handler again with events ev.
func (f *fixture) run2(t *testing.T, ev Events) (Result, error) {
	t.Helper()
	raw, err := f.h.Run(context.Background(), json.RawMessage(`{"prompt":"p"}`), ev)
	var res Result
	require.NoError(t, json.Unmarshal(raw, &res))
	return res, err
}
