package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
)

func TestRunToolCallThenAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil,
		callTools(call("call_1", ToolCurrentTime, `{}`)),
		answer("It is 15:09 UTC."),
	)
	res, err := f.run(t, context.Background(), `{"prompt":"What time is it?","system":"Be brief."}`)
	require.NoError(t, err)
	require.Equal(t, Result{
		Answer: "It is 15:09 UTC.", StopReason: StopAnswer, Steps: 2,
		Usage:    llm.Usage{InputTokens: 20, OutputTokens: 10, TotalTokens: 30},
		Provider: "openai", Model: "gpt-test-2025",
	}, res)

	reqs := f.prov.received()
	require.Len(t, reqs, 2)
	first := reqs[0]
	require.Equal(t, "gpt-test", first.Model)
	require.Equal(t, "Be brief.", first.System)
	require.Len(t, first.Tools, 1, "only the allowed built-in tool is offered")
	require.Equal(t, ToolCurrentTime, first.Tools[0].Name)
	require.NotEmpty(t, first.Tools[0].Description)
	require.JSONEq(t, `{"type":"object","properties":{},"additionalProperties":false}`, string(first.Tools[0].Schema))
	require.Equal(t, []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Text: "What time is it?"}}}}, first.Messages)

	second := reqs[1]
	require.Len(t, second.Messages, 3)
	require.Equal(t, llm.RoleAssistant, second.Messages[1].Role)
	require.Equal(t, "call_1", second.Messages[1].ToolCalls()[0].ID)
	require.Equal(t, []llm.ToolResult{{CallID: "call_1", Name: ToolCurrentTime, Content: "2025-03-14T15:09:26Z UTC"}},
		toolResults(t, second))

	f.mu.Lock()
	require.Equal(t, []llm.Config{{Provider: "openai", Model: "gpt-test", APIKey: testKey}}, f.configs)
	f.mu.Unlock()
	require.Equal(t, 1, f.source.cleanupCount(), "the tool source is cleaned up after the run")
}

func TestRunTwoCallsInOneTurn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, []Tool{echoTool()},
		callTools(call("a", "util__echo", `{"text":"one"}`), call("b", "util__echo", `{"text":"two"}`)),
		answer("done"),
	)
	res, err := f.run(t, context.Background(), `{"prompt":"echo twice"}`)
	require.NoError(t, err)
	require.Equal(t, StopAnswer, res.StopReason)

	reqs := f.prov.received()
	require.Len(t, reqs, 2)
	require.Equal(t, []string{ToolCurrentTime, "util__echo"}, specNames(reqs[0].Tools))
	require.Equal(t, []llm.ToolResult{
		{CallID: "a", Name: "util__echo", Content: "one"},
		{CallID: "b", Name: "util__echo", Content: "two"},
	}, toolResults(t, reqs[1]))

	var kinds []string
	for _, e := range f.events.all() {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{EventModel, EventToolCall, EventToolResult, EventToolCall, EventToolResult, EventModel}, kinds)
}

func TestRunErrorResults(t *testing.T) {
	t.Parallel()
	failing := testTool{
		name: "util__fail", schema: `{"type":"object"}`,
		fn: func(context.Context, json.RawMessage) (string, error) {
			return "", ToolErrorf("disk is full")
		},
	}
	broken := testTool{
		name: "util__broken", schema: `{"type":"object"}`,
		fn: func(context.Context, json.RawMessage) (string, error) {
			return "", errors.New("connection reset")
		},
	}
	panicking := testTool{
		name: "util__panic", schema: `{"type":"object"}`,
		fn: func(context.Context, json.RawMessage) (string, error) { panic("boom") },
	}
	tests := []struct {
		name        string
		call        llm.ToolCall
		wantContent string
		wantWarning string
	}{
		{"unknown tool", call("c1", "nope", `{}`),
			`error: unknown tool "nope" (available tools: current_time, util__broken, util__echo, util__fail, util__panic)`, ""},
		{"tool not allowed for this task", call("c1", ToolRunCommand, `{"command":["ls"]}`),
			`error: unknown tool "run_command"`, ""},
		{"arguments failing the schema", call("c1", "util__echo", `{"text":42}`),
			`error: invalid arguments: validating /properties/text: type: 42 has type "integer", want "string"`, ""},
		{"missing required argument", call("c1", "util__echo", `{}`),
			`error: invalid arguments: required: missing properties: ["text"]`, ""},
		{"invalid JSON arguments", call("c1", "util__echo", `{"text":`),
			"error: invalid arguments: arguments are not valid JSON", ""},
		{"tool error", call("c1", "util__fail", `{}`), "error: disk is full", ""},
		{"tool Go error", call("c1", "util__broken", `{}`), "error: connection reset", "tool util__broken failed: connection reset"},
		{"tool panic", call("c1", "util__panic", `{}`), "error: tool util__panic crashed", "tool util__panic failed: panic: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, []Tool{echoTool(), failing, broken, panicking}, callTools(tt.call), answer("ok"))
			res, err := f.run(t, context.Background(), `{"prompt":"try"}`)
			require.NoError(t, err, "a failed tool call does not fail the run")
			require.Equal(t, StopAnswer, res.StopReason)

			results := toolResults(t, f.prov.received()[1])
			require.Len(t, results, 1)
			require.Equal(t, "c1", results[0].CallID)
			require.True(t, results[0].IsError)
			require.Contains(t, results[0].Content, tt.wantContent)

			warnings := f.events.ofKind(EventWarning)
			if tt.wantWarning == "" {
				require.Empty(t, warnings)
				return
			}
			require.Len(t, warnings, 1)
			require.JSONEq(t, fmt.Sprintf(`{"message":%q}`, tt.wantWarning), string(warnings[0]))
		})
	}
}

func TestRunMissingCallIDsAreFilledIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, callTools(call("", ToolCurrentTime, ``)), answer("ok"))
	_, err := f.run(t, context.Background(), `{"prompt":"p"}`)
	require.NoError(t, err)
	req := f.prov.received()[1]
	require.Equal(t, "call_1_1", req.Messages[1].ToolCalls()[0].ID)
	require.Equal(t, "call_1_1", toolResults(t, req)[0].CallID)
	require.False(t, toolResults(t, req)[0].IsError, "empty arguments mean {}")
}

// specNames returns the names of tool specs.
func specNames(specs []llm.ToolSpec) []string {
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return names
}

func TestRunWarnsWhenTheAnswerIsCutOff(t *testing.T) {
	t.Parallel()
	truncated := func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{
			Message:    llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Text: "The disks are"}}},
			StopReason: "length", Usage: stepUsage,
		}, nil
	}
	f := newFixture(t, nil, truncated)
	res, err := f.run(t, context.Background(), `{"prompt":"p"}`)
	require.NoError(t, err, "an answer without tool calls completes the run")
	require.Equal(t, "The disks are", res.Answer)
	require.Equal(t, "gpt-test", res.Model, "the configured model when the provider reports none")
	warnings := f.events.ofKind(EventWarning)
	require.Len(t, warnings, 1)
	require.JSONEq(t, `{"message":"the answer was cut off by the model's output limit (stop reason \"length\")"}`, string(warnings[0]))
}
