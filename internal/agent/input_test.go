package agent

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{"minimal", `{"prompt":"check the disks"}`, ""},
		{"everything", `{"prompt":"p","system":"s","provider":"anthropic","model":"m","base_url":"http://x",
			"tools":["current_time","http_get","read_file","run_command","github__search_issues"],
			"mcp_servers":["github"],"max_steps":3,"max_tokens":1000,"temperature":0.2,"timeout":"90s"}`, ""},
		{"empty tools list", `{"prompt":"p","tools":[]}`, ""},
		{"unknown field", `{"promt":"p"}`, `unknown field "promt"`},
		{"missing prompt", `{"model":"m"}`, `"prompt" is required and must not be empty`},
		{"blank prompt", `{"prompt":"  "}`, `"prompt" is required and must not be empty`},
		{"prompt of the wrong type", `{"prompt":42}`, `"prompt" must be a string, got number`},
		{"max_steps zero", `{"prompt":"p","max_steps":0}`, `"max_steps" must be greater than 0, got 0`},
		{"max_steps negative", `{"prompt":"p","max_steps":-1}`, `"max_steps" must be greater than 0, got -1`},
		{"max_steps a string", `{"prompt":"p","max_steps":"10"}`, `"max_steps" must be an integer, got string`},
		{"max_steps fractional", `{"prompt":"p","max_steps":2.5}`, `"max_steps" must be an integer, got number 2.5`},
		{"max_tokens negative", `{"prompt":"p","max_tokens":-5}`, `"max_tokens" must not be negative, got -5`},
		{"temperature out of range", `{"prompt":"p","temperature":3}`, `"temperature" must be between 0 and 2, got 3`},
		{"temperature a string", `{"prompt":"p","temperature":"hot"}`, `"temperature" must be a number, got string`},
		{"bad timeout", `{"prompt":"p","timeout":"5 minutes"}`, `"timeout" must be a duration such as "90s" or "5m", got "5 minutes"`},
		{"timeout a number", `{"prompt":"p","timeout":30}`, `"timeout" must be a string, got number`},
		{"negative timeout", `{"prompt":"p","timeout":"-1s"}`, `"timeout" must be positive, got "-1s"`},
		{"bad tool name", `{"prompt":"p","tools":["shell"]}`,
			`unknown tool "shell" in "tools" (built-in tools: current_time, http_get, read_file, run_command, search_tasks; MCP tools are named SERVER__TOOL)`},
		{"half an MCP name", `{"prompt":"p","tools":["github__"]}`,
			`unknown tool "github__" in "tools" (built-in tools: current_time, http_get, read_file, run_command, search_tasks; MCP tools are named SERVER__TOOL)`},
		{"tools not a list", `{"prompt":"p","tools":"current_time"}`, `"tools" must be a list of strings, got string`},
		{"empty MCP server name", `{"prompt":"p","mcp_servers":[""]}`, `"mcp_servers" must not contain an empty name`},
		{"not an object", `["prompt"]`, "input must be a JSON object"},
		{"null", `null`, "input must be a JSON object"},
		{"empty", ``, "input must be a JSON object"},
		{"broken JSON", `{"prompt":`, "input is not valid JSON: unexpected end of input"},
		{"trailing data", `{"prompt":"p"} {}`, "input has data after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateInput(json.RawMessage(tt.input))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
		})
	}
}

func TestHandlerValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		config  Config
		input   string
		wantErr string
	}{
		{"model from config", Config{Model: "gpt-4o"}, `{"prompt":"p"}`, ""},
		{"model from input", Config{}, `{"prompt":"p","model":"gpt-4o"}`, ""},
		{"no model anywhere", Config{}, `{"prompt":"p"}`,
			`no model for provider "openai": give "model" in the input or set agent.model in the config`},
		{"config model is not inherited by another provider", Config{Model: "gpt-4o"}, `{"prompt":"p","provider":"anthropic"}`,
			`no model for provider "anthropic": give "model" in the input or set agent.model in the config`},
		{"unknown provider", Config{Model: "m"}, `{"prompt":"p","provider":"acme","model":"m","base_url":"http://llm:8080"}`,
			`unknown provider "acme" (known: openai, anthropic, openrouter, gemini, ollama; for another OpenAI-compatible endpoint use "openai" with a base_url)`},
		{"an OpenAI-compatible endpoint", Config{}, `{"prompt":"p","model":"m","base_url":"http://llm:8080"}`, ""},
		{"input errors first", Config{Model: "m"}, `{"prompt":""}`, `"prompt" is required and must not be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := &Handler{Config: tt.config}
			err := h.Validate(json.RawMessage(tt.input))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
		})
	}
}

func TestConfigResolve(t *testing.T) {
	t.Parallel()
	cfg := Config{
		Provider: "openai", Model: "gpt-4o", BaseURL: "http://proxy", APIKeyEnv: "KEY",
		MaxSteps: 7, MaxTokens: 500, Timeout: time.Minute,
		Tools: []string{ToolCurrentTime}, MCPServers: []string{"github"},
	}
	temp := 0.5
	tests := []struct {
		name  string
		input Input
		want  settings
	}{
		{"config defaults", Input{Prompt: "p"}, settings{
			provider: "openai", model: "gpt-4o", baseURL: "http://proxy", apiKeyEnv: "KEY",
			maxSteps: 7, maxTokens: 500, timeout: time.Minute,
			tools: []string{ToolCurrentTime}, mcpServers: []string{"github"},
		}},
		{"input wins", Input{Prompt: "p", Model: "gpt-5", BaseURL: "http://other", MaxSteps: 2, MaxTokens: 9,
			Timeout: "5s", Tools: []string{}, MCPServers: []string{}, Temperature: &temp}, settings{
			// The task's own endpoint gets no key variable from the config.
			provider: "openai", model: "gpt-5", baseURL: "http://other", taskEndpoint: true,
			maxSteps: 2, maxTokens: 9, timeout: 5 * time.Second,
			tools: []string{}, mcpServers: []string{}, temperature: &temp,
		}},
		{"another provider starts clean", Input{Prompt: "p", Provider: "anthropic"}, settings{
			provider: "anthropic", maxSteps: 7, maxTokens: 500, timeout: time.Minute,
			tools: []string{ToolCurrentTime}, mcpServers: []string{"github"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := cfg.resolve(tt.input)
			tt.want.in = tt.input
			require.Equal(t, tt.want, got)
		})
	}
	require.Equal(t, DefaultMaxSteps, Config{}.resolve(Input{Prompt: "p"}).maxSteps)
	require.Equal(t, "openai", Config{}.resolve(Input{Prompt: "p"}).provider)
}
