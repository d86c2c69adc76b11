package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
)

// conversation builds a prompt followed by n tool turns, each of whose
// results has size characters.
func conversation(n, size int) []llm.Message {
	msgs := []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Text: strings.Repeat("p", 40)}}}}
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		msgs = append(msgs,
			llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{ToolCall: &llm.ToolCall{ID: id, Name: "t", Arguments: json.RawMessage(`{}`)}}}},
			llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{ToolResult: &llm.ToolResult{CallID: id, Name: "t", Content: strings.Repeat("r", size)}}}},
		)
	}
	return msgs
}

func TestTrimConversation(t *testing.T) {
	t.Parallel()
	// Each turn is 2+1+2 + 2+1+400 = 408 characters, about 102 tokens; the
	// prompt is 10 tokens.
	tests := []struct {
		name        string
		msgs        []llm.Message
		budget      int
		wantDropped int
		wantFirstID string // the call id of the first kept turn
	}{
		{"no budget", conversation(5, 400), 0, 0, "c0"},
		{"under budget", conversation(2, 400), 1000, 0, "c0"},
		{"drops the oldest turns whole", conversation(5, 400), 250, 6, "c3"},
		{"keeps the newest turn even over budget", conversation(3, 400), 10, 4, "c2"},
		{"one turn is never dropped", conversation(1, 4000), 10, 0, "c0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := len(tt.msgs)
			kept, dropped := trimConversation("", tt.msgs, tt.budget)
			require.Equal(t, tt.wantDropped, dropped)
			require.Len(t, kept, before-dropped)
			require.Len(t, tt.msgs, before, "the input is not modified")
			require.Equal(t, tt.msgs[0], kept[0], "the task prompt is always kept")
			require.Equal(t, tt.wantFirstID, kept[1].ToolCalls()[0].ID)
			requirePairedTurns(t, kept)
		})
	}
}

// requirePairedTurns checks that every tool-result message follows the
// assistant message whose calls it answers, id for id.
func requirePairedTurns(t *testing.T, msgs []llm.Message) {
	t.Helper()
	require.Equal(t, llm.RoleUser, msgs[0].Role)
	for i, m := range msgs {
		if m.Role != llm.RoleTool {
			continue
		}
		require.Positive(t, i)
		prev := msgs[i-1]
		require.Equal(t, llm.RoleAssistant, prev.Role)
		var callIDs, resultIDs []string
		for _, c := range prev.ToolCalls() {
			callIDs = append(callIDs, c.ID)
		}
		for _, p := range m.Parts {
			resultIDs = append(resultIDs, p.ToolResult.CallID)
		}
		require.Equal(t, callIDs, resultIDs)
	}
	for i, m := range msgs {
		if m.Role == llm.RoleAssistant && len(m.ToolCalls()) > 0 {
			require.Less(t, i+1, len(msgs), "a call is never sent without its result")
			require.Equal(t, llm.RoleTool, msgs[i+1].Role)
		}
	}
}

func TestRunTrimsMemory(t *testing.T) {
	t.Parallel()
	big := testTool{
		name: "util__big", schema: `{"type":"object"}`,
		fn: func(context.Context, json.RawMessage) (string, error) { return strings.Repeat("x", 800), nil },
	}
	var steps []step
	for i := range 4 {
		steps = append(steps, callTools(call(fmt.Sprintf("c%d", i), "util__big", fmt.Sprintf(`{"n":%d}`, i))))
	}
	steps = append(steps, answer("done"))
	f := newFixture(t, []Tool{big}, steps...)
	f.h.Config.MemoryBudget = 300
	res, err := f.run(t, context.Background(), `{"prompt":"summarise the big outputs"}`)
	require.NoError(t, err)
	require.Equal(t, StopAnswer, res.StopReason)

	reqs := f.prov.received()
	require.Len(t, reqs, 5)
	for i, req := range reqs {
		require.Equal(t, "summarise the big outputs", req.Messages[0].Parts[0].Text, "request %d keeps the prompt", i)
		requirePairedTurns(t, req.Messages)
		require.LessOrEqual(t, len(req.Messages), 5, "request %d is trimmed", i)
	}
	last := reqs[4].Messages
	require.Equal(t, "c3", last[len(last)-2].ToolCalls()[0].ID, "the newest turn is kept")

	warnings := f.events.ofKind(EventWarning)
	require.NotEmpty(t, warnings)
	require.Contains(t, string(warnings[0]), "conversation trimmed to the memory budget of about 300 tokens")
}
