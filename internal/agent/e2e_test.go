package agent

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

// These tests run the loop through llm.New and the official SDKs against the
// fake wire-format servers of llmtest, so what they check is what a real
// provider would receive.

// e2eHandler returns a handler that reaches srv through the real adapter.
func e2eHandler(provider string, srv *llmtest.Server) *Handler {
	env := map[string]string{"OPENAI_API_KEY": testKey, "ANTHROPIC_API_KEY": testKey}
	return &Handler{
		Config: Config{Provider: provider, Model: "model-e2e", BaseURL: srv.URL(), Tools: []string{ToolCurrentTime}},
		Getenv: func(name string) string { return env[name] },
		Now:    func() time.Time { return fixedNow },
	}
}

func TestEndToEndToolCallThenAnswer(t *testing.T) {
	t.Parallel()
	for _, provider := range []string{"openai", "anthropic"} {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv := llmtest.NewOpenAI(t)
			if provider == "anthropic" {
				srv = llmtest.NewAnthropic(t)
			}
			srv.Reply(llmtest.ToolCalls(llmtest.Call("call_1", ToolCurrentTime, `{}`)), llmtest.Text("It is 15:09 UTC."))
			h := e2eHandler(provider, srv)
			rec := &recorder{}
			raw, err := h.Run(context.Background(), json.RawMessage(`{"prompt":"What time is it?","system":"Be brief."}`), rec)
			require.NoError(t, err)
			var res Result
			require.NoError(t, json.Unmarshal(raw, &res))
			require.Equal(t, Result{
				Answer: "It is 15:09 UTC.", StopReason: StopAnswer, Steps: 2,
				Usage:    llm.Usage{InputTokens: 20, OutputTokens: 10, TotalTokens: 30},
				Provider: provider, Model: "model-e2e",
			}, res)
			require.Zero(t, srv.Pending())

			reqs := srv.Requests()
			require.Len(t, reqs, 2)
			require.Equal(t, "model-e2e", reqs[0].Model())
			require.Len(t, reqs[0].Tools(), 1)
			second := reqs[1].Messages()
			if provider == "openai" {
				require.Equal(t, "Bearer "+testKey, reqs[0].Header.Get("Authorization"))
				require.Equal(t, ToolCurrentTime, dig(reqs[0].Tools()[0], "function", "name"))
				require.Equal(t, "system", dig(reqs[0].Messages()[0], "role"))
				// system, user, assistant with the call, tool with its result.
				require.Len(t, second, 4)
				require.Equal(t, "call_1", dig(second[2]["tool_calls"].([]any)[0].(map[string]any), "id"))
				require.Equal(t, "tool", second[3]["role"])
				require.Equal(t, "call_1", second[3]["tool_call_id"])
				require.Equal(t, "2025-03-14T15:09:26Z UTC", second[3]["content"])
				return
			}
			// This SDK version sends the key as a bearer token; older ones
			// used x-api-key. Either way it is the resolved key.
			require.Contains(t, []string{testKey, "Bearer " + testKey},
				reqs[0].Header.Get("X-Api-Key")+reqs[0].Header.Get("Authorization"))
			require.Equal(t, ToolCurrentTime, reqs[0].Tools()[0]["name"])
			require.NotNil(t, reqs[0].Tools()[0]["input_schema"])
			require.Len(t, second, 3)
			use := second[1]["content"].([]any)[0].(map[string]any)
			require.Equal(t, "tool_use", use["type"])
			require.Equal(t, "call_1", use["id"])
			result := second[2]["content"].([]any)[0].(map[string]any)
			require.Equal(t, "user", second[2]["role"])
			require.Equal(t, "tool_result", result["type"])
			require.Equal(t, "call_1", result["tool_use_id"])
			require.Contains(t, string(reqs[1].Raw), "2025-03-14T15:09:26Z UTC")
		})
	}
}

func TestEndToEndProviderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		provider  string
		script    func(srv *llmtest.Server)
		wantErr   string
		retryable bool
	}{
		{"openai 401", "openai", func(srv *llmtest.Server) { srv.Fail(401, "Incorrect API key") },
			"openai: 401 Incorrect API key", false},
		{"anthropic 401", "anthropic", func(srv *llmtest.Server) { srv.Fail(401, "invalid x-api-key") },
			"anthropic: 401 invalid x-api-key", false},
		{"openai 500 after retries", "openai", func(srv *llmtest.Server) {
			for range 3 {
				srv.Fail(500, "server on fire", "Retry-After-Ms: 1")
			}
		}, "openai: 500 server on fire", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := llmtest.NewOpenAI(t)
			if tt.provider == "anthropic" {
				srv = llmtest.NewAnthropic(t)
			}
			tt.script(srv)
			raw, err := e2eHandler(tt.provider, srv).Run(context.Background(), json.RawMessage(`{"prompt":"p"}`), &recorder{})
			require.EqualError(t, err, tt.wantErr)
			var rerr interface{ Retryable() bool }
			require.True(t, errors.As(err, &rerr))
			require.Equal(t, tt.retryable, rerr.Retryable())
			var res Result
			require.NoError(t, json.Unmarshal(raw, &res))
			require.Equal(t, StopProviderError, res.StopReason)
			require.NotContains(t, string(raw), testKey)
		})
	}
}

func TestEndToEndCancel(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewOpenAI(t)
	srv.Hang()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := e2eHandler("openai", srv).Run(ctx, json.RawMessage(`{"prompt":"p"}`), &recorder{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// dig returns a nested string field of a decoded JSON object.
func dig(obj map[string]any, keys ...string) string {
	var v any = obj
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}
