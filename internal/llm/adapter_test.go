package llm_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

// testKey is the API key every test provider uses. Tests check that it never
// appears in an error string.
const testKey = "sk-test-7f3a9c2e51b84d06"

// wireCase is one adapter under test, with the fake server that speaks its wire.
type wireCase struct {
	provider string
	start    func(testing.TB) *llmtest.Server
	// stop is the natural stop reason for a text answer and for tool calls.
	stopText, stopTools string
}

func wireCases() []wireCase {
	return []wireCase{
		{provider: "openai", start: llmtest.NewOpenAI, stopText: "stop", stopTools: "tool_calls"},
		{provider: "anthropic", start: llmtest.NewAnthropic, stopText: "end_turn", stopTools: "tool_use"},
	}
}

// setup starts a fake server and a provider pointed at it. mod adjusts the
// configuration before the provider is built.
func setup(t *testing.T, wc wireCase, mod func(*llm.Config)) (*llmtest.Server, llm.Provider) {
	t.Helper()
	srv := wc.start(t)
	cfg := llm.Config{Provider: wc.provider, Model: "test-model", BaseURL: srv.URL(), APIKey: testKey}
	if mod != nil {
		mod(&cfg)
	}
	p, err := llm.New(cfg)
	require.NoError(t, err)
	return srv, p
}

func userText(text string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Text: text}}}
}

func toolResults(results ...llm.ToolResult) llm.Message {
	m := llm.Message{Role: llm.RoleTool}
	for i := range results {
		m.Parts = append(m.Parts, llm.Part{ToolResult: &results[i]})
	}
	return m
}

// timeSchema is the JSON Schema of the get_time tool used by several tests.
const timeSchema = `{"type":"object","properties":{"zone":{"type":"string"}},"required":["zone"],"additionalProperties":false}`

func TestCompleteText(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, nil)
			srv.Reply(llmtest.Text("final answer").WithUsage(12, 7))

			resp, err := p.Complete(context.Background(), llm.Request{
				System:   "be brief",
				Messages: []llm.Message{userText("what now?")},
			})
			require.NoError(t, err)
			require.Equal(t, wc.provider, p.Name())
			require.Equal(t, llm.RoleAssistant, resp.Message.Role)
			require.Equal(t, "final answer", resp.Message.Text())
			require.Empty(t, resp.Message.ToolCalls())
			require.Equal(t, wc.stopText, resp.StopReason)
			require.Equal(t, llm.Usage{InputTokens: 12, OutputTokens: 7, TotalTokens: 19}, resp.Usage)
			require.Equal(t, "test-model", resp.Model)

			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			req := reqs[0]
			require.Equal(t, "Bearer "+testKey, req.Header.Get("Authorization"))
			require.Equal(t, "test-model", req.Model())
			msgs := req.Messages()
			switch wc.provider {
			case "openai":
				require.Len(t, msgs, 2)
				require.Equal(t, map[string]any{"role": "system", "content": "be brief"}, msgs[0])
				require.Equal(t, map[string]any{"role": "user", "content": "what now?"}, msgs[1])
				require.NotContains(t, req.Body, "max_completion_tokens")
				require.NotContains(t, req.Body, "tools")
			case "anthropic":
				require.Equal(t, []any{map[string]any{"type": "text", "text": "be brief"}}, req.Body["system"])
				require.Len(t, msgs, 1)
				require.Equal(t, "user", msgs[0]["role"])
				require.Equal(t, []any{map[string]any{"type": "text", "text": "what now?"}}, msgs[0]["content"])
				require.EqualValues(t, llm.DefaultAnthropicMaxTokens, req.Body["max_tokens"])
			}
		})
	}
}

func TestCompleteOptions(t *testing.T) {
	t.Parallel()
	temp := 0.25
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, nil)
			srv.Reply(llmtest.Text("ok").WithStopReason("length"))

			resp, err := p.Complete(context.Background(), llm.Request{
				Model:       "other-model",
				Messages:    []llm.Message{userText("hi")},
				MaxTokens:   100,
				Temperature: &temp,
			})
			require.NoError(t, err)
			require.Equal(t, "length", resp.StopReason)
			require.Equal(t, "other-model", resp.Model)

			req, ok := srv.Last()
			require.True(t, ok)
			require.Equal(t, "other-model", req.Model())
			require.EqualValues(t, 0.25, req.Body["temperature"])
			if wc.provider == "openai" {
				// Real OpenAI gets max_completion_tokens, which its reasoning
				// models require.
				require.EqualValues(t, 100, req.Body["max_completion_tokens"])
			} else {
				require.EqualValues(t, 100, req.Body["max_tokens"])
			}
		})
	}
}

func TestCompatibleProvidersSendMaxTokens(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewOpenAI(t)
	p, err := llm.New(llm.Config{Provider: "ollama", Model: "llama3", BaseURL: srv.URL()})
	require.NoError(t, err)
	srv.Reply(llmtest.Text("ok"))

	_, err = p.Complete(context.Background(), llm.Request{Messages: []llm.Message{userText("hi")}, MaxTokens: 50})
	require.NoError(t, err)
	req, _ := srv.Last()
	require.EqualValues(t, 50, req.Body["max_tokens"])
	require.NotContains(t, req.Body, "max_completion_tokens")
	require.Empty(t, req.Header.Get("Authorization"), "no key configured, none sent")
}

func TestToolRoundTrip(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, nil)
			srv.Reply(llmtest.ToolCalls(llmtest.Call("call_1", "get_time", `{"zone":"UTC"}`)))
			srv.Reply(llmtest.Text("It is noon."))

			tools := []llm.ToolSpec{
				{Name: "get_time", Description: "Current time in a zone.", Schema: json.RawMessage(timeSchema)},
				{Name: "noop", Description: "Takes nothing."},
			}
			conv := []llm.Message{userText("what time is it?")}
			first, err := p.Complete(context.Background(), llm.Request{Messages: conv, Tools: tools})
			require.NoError(t, err)
			require.Equal(t, wc.stopTools, first.StopReason)
			calls := first.Message.ToolCalls()
			require.Len(t, calls, 1)
			require.Equal(t, "call_1", calls[0].ID)
			require.Equal(t, "get_time", calls[0].Name)
			require.JSONEq(t, `{"zone":"UTC"}`, string(calls[0].Arguments))

			conv = append(conv, first.Message, toolResults(llm.ToolResult{CallID: "call_1", Name: "get_time", Content: "12:00"}))
			second, err := p.Complete(context.Background(), llm.Request{Messages: conv, Tools: tools})
			require.NoError(t, err)
			require.Equal(t, "It is noon.", second.Message.Text())

			reqs := srv.Requests()
			require.Len(t, reqs, 2)
			assertTools(t, wc.provider, reqs[0].Tools())

			msgs := reqs[1].Messages()
			switch wc.provider {
			case "openai":
				require.Len(t, msgs, 3)
				require.Equal(t, "assistant", msgs[1]["role"])
				call := msgs[1]["tool_calls"].([]any)[0].(map[string]any)
				require.Equal(t, "call_1", call["id"])
				require.Equal(t, "function", call["type"])
				fn := call["function"].(map[string]any)
				require.Equal(t, "get_time", fn["name"])
				require.JSONEq(t, `{"zone":"UTC"}`, fn["arguments"].(string))
				require.Equal(t, map[string]any{"role": "tool", "tool_call_id": "call_1", "content": "12:00"}, msgs[2])
			case "anthropic":
				require.Len(t, msgs, 3)
				require.Equal(t, "assistant", msgs[1]["role"])
				use := msgs[1]["content"].([]any)[0].(map[string]any)
				require.Equal(t, "tool_use", use["type"])
				require.Equal(t, "call_1", use["id"])
				require.Equal(t, "get_time", use["name"])
				require.Equal(t, map[string]any{"zone": "UTC"}, use["input"])
				require.Equal(t, "user", msgs[2]["role"])
				result := msgs[2]["content"].([]any)[0].(map[string]any)
				require.Equal(t, "tool_result", result["type"])
				require.Equal(t, "call_1", result["tool_use_id"])
				require.Equal(t, false, result["is_error"])
				require.Equal(t, []any{map[string]any{"type": "text", "text": "12:00"}}, result["content"])
			}
		})
	}
}

// assertTools checks that tool specs reach the wire with name, description
// and the JSON Schema, and that a tool without a schema gets an empty object.
func assertTools(t *testing.T, provider string, tools []map[string]any) {
	t.Helper()
	require.Len(t, tools, 2)
	var schema map[string]any
	require.NoError(t, json.Unmarshal([]byte(timeSchema), &schema))
	empty := map[string]any{"type": "object", "properties": map[string]any{}}
	switch provider {
	case "openai":
		require.Equal(t, "function", tools[0]["type"])
		require.Equal(t, map[string]any{
			"name": "get_time", "description": "Current time in a zone.", "parameters": schema,
		}, tools[0]["function"])
		require.Equal(t, empty, tools[1]["function"].(map[string]any)["parameters"])
	case "anthropic":
		require.Equal(t, "get_time", tools[0]["name"])
		require.Equal(t, "Current time in a zone.", tools[0]["description"])
		require.Equal(t, schema, tools[0]["input_schema"])
		require.Equal(t, empty, tools[1]["input_schema"])
	}
}

func TestTwoToolCallsInOneTurn(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, nil)
			srv.Reply(llmtest.ToolCalls(
				llmtest.Call("call_a", "get_time", `{"zone":"UTC"}`),
				llmtest.Call("call_b", "get_time", `{"zone":"CET"}`),
			).WithText("Checking both."))
			srv.Reply(llmtest.Text("done"))

			conv := []llm.Message{userText("times?")}
			first, err := p.Complete(context.Background(), llm.Request{Messages: conv})
			require.NoError(t, err)
			require.Equal(t, "Checking both.", first.Message.Text())
			calls := first.Message.ToolCalls()
			require.Len(t, calls, 2)
			require.Equal(t, []string{"call_a", "call_b"}, []string{calls[0].ID, calls[1].ID})
			require.JSONEq(t, `{"zone":"CET"}`, string(calls[1].Arguments))

			conv = append(conv, first.Message, toolResults(
				llm.ToolResult{CallID: "call_a", Name: "get_time", Content: "12:00"},
				llm.ToolResult{CallID: "call_b", Name: "get_time", Content: "zone not found", IsError: true},
			))
			_, err = p.Complete(context.Background(), llm.Request{Messages: conv})
			require.NoError(t, err)

			req, _ := srv.Last()
			msgs := req.Messages()
			switch wc.provider {
			case "openai":
				require.Len(t, msgs, 4)
				require.Equal(t, "Checking both.", msgs[1]["content"])
				require.Len(t, msgs[1]["tool_calls"], 2)
				require.Equal(t, map[string]any{"role": "tool", "tool_call_id": "call_a", "content": "12:00"}, msgs[2])
				require.Equal(t, map[string]any{"role": "tool", "tool_call_id": "call_b", "content": "ERROR: zone not found"}, msgs[3])
			case "anthropic":
				require.Len(t, msgs, 3)
				require.Len(t, msgs[1]["content"], 3) // text + two tool_use blocks
				blocks := msgs[2]["content"].([]any)
				require.Len(t, blocks, 2)
				a, b := blocks[0].(map[string]any), blocks[1].(map[string]any)
				require.Equal(t, "call_a", a["tool_use_id"])
				require.Equal(t, false, a["is_error"])
				require.Equal(t, "call_b", b["tool_use_id"])
				require.Equal(t, true, b["is_error"])
			}
		})
	}
}

func TestInvalidToolArgumentsStayValidJSON(t *testing.T) {
	t.Parallel()
	srv, p := setup(t, wireCases()[0], nil)
	srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "get_time", `{"zone": UTC`), llmtest.Call("c2", "noop", ``)))

	resp, err := p.Complete(context.Background(), llm.Request{Messages: []llm.Message{userText("go")}})
	require.NoError(t, err)
	calls := resp.Message.ToolCalls()
	require.Len(t, calls, 2)
	require.JSONEq(t, `"{\"zone\": UTC"`, string(calls[0].Arguments))
	require.JSONEq(t, `{}`, string(calls[1].Arguments))
	_, err = json.Marshal(resp.Message)
	require.NoError(t, err, "the message must stay storable as JSON")
}
