package agent

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
)

func TestRunRedactsSecrets(t *testing.T) {
	t.Parallel()
	const dbPassword = `p@ss"word\with-quotes`
	leaky := testTool{
		name: "util__leak", schema: `{"type":"object"}`,
		fn: func(context.Context, json.RawMessage) (string, error) {
			return "key=" + testKey + " password=" + dbPassword, nil
		},
	}
	f := newFixture(t, []Tool{leaky},
		callTools(call("c1", "util__leak", `{"echo":"`+testKey+`"}`)),
		answer("The key is "+testKey+" and the password is "+dbPassword),
	)
	f.env["DB_PASSWORD"] = dbPassword
	f.h.Config.RedactEnv = []string{"DB_PASSWORD"}
	raw, err := f.h.Run(context.Background(), json.RawMessage(`{"prompt":"leak it"}`), f.events)
	require.NoError(t, err)
	require.NotContains(t, string(raw), testKey)
	require.Contains(t, string(raw), "The key is [redacted] and the password is [redacted]")

	all := f.events.all()
	require.NotEmpty(t, all)
	for _, e := range all {
		require.True(t, json.Valid(e.Data), "event %s stays valid JSON", e.Kind)
		require.NotContains(t, string(e.Data), testKey)
		require.NotContains(t, string(e.Data), "word\\\\with", "the JSON-escaped password is redacted too")
	}
	require.Contains(t, string(f.events.ofKind(EventToolResult)[0]), "key=[redacted] password=[redacted]")
	require.Contains(t, string(f.events.ofKind(EventToolCall)[0]), `{"echo":"[redacted]"}`)

	results := toolResults(t, f.prov.received()[1])
	require.Equal(t, "key=[redacted] password=[redacted]", results[0].Content, "the model never reads the secret")
}

func TestRunRedactsProviderError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, failWith(&llm.Error{Provider: "openai", Status: 401, Message: "Incorrect API key provided: " + testKey}))
	raw, err := f.h.Run(context.Background(), json.RawMessage(`{"prompt":"p"}`), f.events)
	require.Error(t, err)
	require.Equal(t, "openai: 401 Incorrect API key provided: [redacted]", err.Error())
	var perr *llm.Error
	require.ErrorAs(t, err, &perr)
	require.NotContains(t, perr.Message, testKey, "the unwrapped provider error is redacted too")
	require.NotContains(t, string(raw), testKey)
}

func TestRunAPIKeyResolution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		config  Config
		env     map[string]string
		input   string
		wantErr string
		wantKey string
	}{
		{"missing openai key", Config{Model: "m"}, nil, `{"prompt":"p"}`,
			`no API key for provider "openai": environment variable OPENAI_API_KEY is not set`, ""},
		{"missing anthropic key", Config{Provider: "anthropic", Model: "m"}, map[string]string{"OPENAI_API_KEY": "x"}, `{"prompt":"p"}`,
			`no API key for provider "anthropic": environment variable ANTHROPIC_API_KEY is not set`, ""},
		{"api_key_env override", Config{Model: "m", APIKeyEnv: "MY_KEY"}, map[string]string{"MY_KEY": "k1", "OPENAI_API_KEY": "k2"}, `{"prompt":"p"}`,
			"", "k1"},
		{"api_key_env override missing", Config{Model: "m", APIKeyEnv: "MY_KEY"}, map[string]string{"OPENAI_API_KEY": "k2"}, `{"prompt":"p"}`,
			`no API key for provider "openai": environment variable MY_KEY is not set`, ""},
		{"ollama needs no key", Config{Provider: "ollama", Model: "llama3"}, nil, `{"prompt":"p"}`, "", ""},
		{"custom base_url needs no key", Config{Model: "m"}, nil, `{"prompt":"p","base_url":"http://localhost:8000/v1"}`, "", ""},
		{"a task's own base_url never gets the runner's key", Config{Model: "m", APIKeyEnv: "MY_KEY"},
			map[string]string{"OPENAI_API_KEY": "k3", "MY_KEY": "k4"},
			`{"prompt":"p","base_url":"http://localhost:8000/v1"}`, "", ""},
		{"a configured base_url uses a key when there is one", Config{Model: "m", BaseURL: "http://localhost:8000/v1"},
			map[string]string{"OPENAI_API_KEY": "k3"}, `{"prompt":"p"}`, "", "k3"},
		{"another provider does not inherit api_key_env", Config{Model: "m", APIKeyEnv: "MY_KEY"}, map[string]string{"MY_KEY": "k1"},
			`{"prompt":"p","provider":"anthropic","model":"claude"}`,
			`no API key for provider "anthropic": environment variable ANTHROPIC_API_KEY is not set`, ""},
		{"unknown provider", Config{Model: "m"}, nil, `{"prompt":"p","provider":"acme"}`,
			`unknown provider "acme" (known: openai, anthropic, openrouter, gemini, ollama; for another OpenAI-compatible endpoint use "openai" with a base_url)`, ""},
		{"no model", Config{}, map[string]string{"OPENAI_API_KEY": "k"}, `{"prompt":"p"}`,
			`no model for provider "openai": give "model" in the input or set agent.model in the config`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil, answer("ok"))
			f.h.Config = tt.config
			f.env = tt.env
			res, err := f.run(t, context.Background(), tt.input)
			f.mu.Lock()
			defer f.mu.Unlock()
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				var rerr *RunError
				require.ErrorAs(t, err, &rerr)
				require.False(t, rerr.Retryable())
				require.Equal(t, StopSetupError, res.StopReason)
				require.Empty(t, f.configs, "no provider is built")
				return
			}
			require.NoError(t, err)
			require.Len(t, f.configs, 1)
			require.Equal(t, tt.wantKey, f.configs[0].APIKey)
		})
	}
}

func TestRunInvalidInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	res, err := f.run(t, context.Background(), `{"promt":"p"}`)
	require.EqualError(t, err, `invalid input: unknown field "promt"`)
	require.Equal(t, StopInvalidInput, res.StopReason)
	require.Empty(t, f.prov.received())
}

func TestRunToolSources(t *testing.T) {
	t.Parallel()
	t.Run("source error ends the run before any model call and cleans up", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil, answer("ok"))
		f.source.err = errors.New("mcp server github: exited with status 1")
		res, err := f.run(t, context.Background(), `{"prompt":"p","mcp_servers":["github"]}`)
		require.EqualError(t, err, "tools: mcp server github: exited with status 1")
		require.Equal(t, StopSetupError, res.StopReason)
		require.Empty(t, f.prov.received())
		require.Equal(t, 1, f.source.cleanupCount())
	})
	t.Run("the source gets the effective input", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil, answer("ok"))
		f.h.Config.MCPServers = []string{"github"}
		_, err := f.run(t, context.Background(), `{"prompt":"p","tools":["util__echo"]}`)
		require.NoError(t, err)
		require.Len(t, f.source.got, 1)
		require.Equal(t, []string{"github"}, f.source.got[0].MCPServers)
		require.Equal(t, []string{"util__echo"}, f.source.got[0].Tools)
		require.Equal(t, "gpt-test", f.source.got[0].Model)
	})
	other := testTool{name: "util__other", schema: `{"type":"object"}`}
	// A schema that points elsewhere is refused: nothing is fetched for it.
	broken := testTool{name: "util__badschema", schema: `{"$ref":"file:///etc/passwd"}`}
	tests := []struct {
		name         string
		input        string
		want         []string
		wantWarnings int // the broken schema and the duplicate, when not filtered out
	}{
		{"all tools of a server by default", `{"prompt":"p"}`, []string{ToolCurrentTime, "util__echo", "util__other"}, 2},
		{"narrowed to one server tool", `{"prompt":"p","tools":["util__echo"]}`, []string{"util__echo"}, 1},
		{"an empty list turns built-ins off", `{"prompt":"p","tools":[]}`, []string{"util__echo", "util__other"}, 2},
		{"built-in and narrowed", `{"prompt":"p","tools":["read_file","util__other"]}`, []string{ToolReadFile, "util__other"}, 0},
		{"a named tool no source offers", `{"prompt":"p","tools":["github__search"]}`, []string{"util__echo", "util__other"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, []Tool{echoTool(), other, broken, echoTool()}, answer("ok"))
			_, err := f.run(t, context.Background(), tt.input)
			require.NoError(t, err)
			require.Equal(t, tt.want, specNames(f.prov.received()[0].Tools))
			require.Len(t, f.events.ofKind(EventWarning), tt.wantWarnings)
		})
	}
}
