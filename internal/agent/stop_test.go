package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
)

func TestRunStops(t *testing.T) {
	t.Parallel()
	varyingCalls := func(n int) []step {
		var steps []step
		for i := range n {
			steps = append(steps, callTools(call(fmt.Sprintf("c%d", i), "util__echo", fmt.Sprintf(`{"text":"%d"}`, i))))
		}
		return steps
	}
	sameCall := func(n int) []step {
		var steps []step
		for i := range n {
			// Key order and spacing differ; the arguments are the same.
			args := `{"text":"x"}`
			if i%2 == 1 {
				args = `{ "text" : "x" }`
			}
			steps = append(steps, callTools(call(fmt.Sprintf("c%d", i), "util__echo", args)))
		}
		return steps
	}
	tests := []struct {
		name       string
		input      string
		steps      []step
		wantReason string
		wantErr    string
		wantSteps  int
		retryable  bool
		wantCalls  int // tool calls run
	}{
		{"max steps", `{"prompt":"p","max_steps":3}`, varyingCalls(5), StopMaxSteps, "max_steps reached (3)", 3, false, 2},
		{"max steps default", `{"prompt":"p"}`, varyingCalls(12), StopMaxSteps, "max_steps reached (10)", 10, false, 9},
		{"repeated tool call", `{"prompt":"p"}`, sameCall(6), StopRepeatedToolCall,
			"repeated tool call: util__echo called 4 times in a row with the same arguments", 4, false, 3},
		{"token budget", `{"prompt":"p","max_tokens":25}`, varyingCalls(5), StopTokenBudget,
			"token budget exceeded (used 30 of 25)", 2, false, 1},
		{"provider 401", `{"prompt":"p"}`,
			[]step{failWith(&llm.Error{Provider: "openai", Status: 401, Message: "Incorrect API key"})},
			StopProviderError, "openai: 401 Incorrect API key", 0, false, 0},
		{"provider 500 after tool call", `{"prompt":"p"}`,
			[]step{varyingCalls(1)[0], failWith(&llm.Error{Provider: "openai", Status: 500, Message: "server error", Retryable: true})},
			StopProviderError, "openai: 500 server error", 1, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, []Tool{echoTool()}, tt.steps...)
			res, err := f.run(t, context.Background(), tt.input)
			require.Error(t, err)
			require.Equal(t, tt.wantErr, err.Error())
			var rerr interface{ Retryable() bool }
			require.ErrorAs(t, err, &rerr)
			require.Equal(t, tt.retryable, rerr.Retryable())
			require.Equal(t, tt.wantReason, res.StopReason)
			require.Empty(t, res.Answer)
			require.Equal(t, tt.wantSteps, res.Steps)
			require.Equal(t, int64(15*tt.wantSteps), res.Usage.TotalTokens, "partial usage is kept")
			require.Len(t, f.events.ofKind(EventToolResult), tt.wantCalls)
			wantRequests := tt.wantSteps
			if tt.wantReason == StopProviderError {
				wantRequests++ // the failed call counts no step
			}
			require.Len(t, f.prov.received(), wantRequests)
			require.Equal(t, 1, f.source.cleanupCount())
			if tt.wantReason == StopProviderError {
				var perr *llm.Error
				require.ErrorAs(t, err, &perr)
				require.Equal(t, tt.retryable, perr.Retryable)
			}
		})
	}
}

func TestRunTokenBudgetFinalAnswerWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, callTools(call("c1", ToolCurrentTime, `{}`)), answer("done"))
	res, err := f.run(t, context.Background(), `{"prompt":"p","max_tokens":20}`)
	require.NoError(t, err)
	require.Equal(t, "done", res.Answer)
	require.Equal(t, int64(30), res.Usage.TotalTokens)
	warnings := f.events.ofKind(EventWarning)
	require.Len(t, warnings, 1)
	require.Contains(t, string(warnings[0]), "token budget exceeded by the final answer (used 30 of 20)")
}

func TestRunCancelWhileProviderBlocks(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	f := newFixture(t, nil, callTools(call("c1", ToolCurrentTime, `{}`)), blockUntilDone(started))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-started
		cancel()
	}()
	res, err := f.run(t, ctx, `{"prompt":"p"}`)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	var rerr *RunError
	require.ErrorAs(t, err, &rerr)
	require.False(t, rerr.Retryable(), "cancellation is the runner's decision, not a provider failure")
	require.Equal(t, StopCancelled, res.StopReason)
	require.Equal(t, 1, res.Steps)
	require.Equal(t, stepUsage, res.Usage, "usage of the finished step is kept")
	require.Equal(t, 1, f.source.cleanupCount())
}

func TestRunCancelCauseIsKept(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	f := newFixture(t, nil, blockUntilDone(started))
	ctx, cancel := context.WithCancelCause(context.Background())
	leaseLost := errors.New("lease lost")
	go func() {
		<-started
		cancel(leaseLost)
	}()
	res, err := f.run(t, ctx, `{"prompt":"p"}`)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, leaseLost)
	require.Equal(t, "cancelled: lease lost", err.Error())
	require.Equal(t, StopCancelled, res.StopReason)
}

func TestRunInputTimeout(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	f := newFixture(t, nil, blockUntilDone(started))
	res, err := f.run(t, context.Background(), `{"prompt":"p","timeout":"50ms"}`)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, context.Canceled)
	require.Equal(t, "timed out: the run's timeout of 50ms passed: context deadline exceeded", err.Error())
	require.Equal(t, StopTimeout, res.StopReason)
	require.Equal(t, 0, res.Steps)
}
