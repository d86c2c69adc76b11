package llm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

func TestPreset(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, adapter, baseURL, keyEnv string
	}{
		{"openai", "openai", "https://api.openai.com/v1/", "OPENAI_API_KEY"},
		{"anthropic", "anthropic", "https://api.anthropic.com/", "ANTHROPIC_API_KEY"},
		{"openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"},
		{"ollama", "openai", "http://localhost:11434/v1", ""},
		{"gemini", "openai", "https://generativelanguage.googleapis.com/v1beta/openai/", "GEMINI_API_KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			adapter, baseURL, keyEnv, ok := llm.Preset(tc.name)
			require.True(t, ok)
			require.Equal(t, tc.adapter, adapter)
			require.Equal(t, tc.baseURL, baseURL)
			require.Equal(t, tc.keyEnv, keyEnv)
		})
	}
	_, _, _, ok := llm.Preset("openia")
	require.False(t, ok)
}

func TestNew(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		cfg     llm.Config
		wantErr string
	}{
		{"unknown provider", llm.Config{Provider: "openia", APIKey: "k"}, `unknown provider "openia"`},
		{"empty provider", llm.Config{}, `unknown provider ""`},
		{"openai without key", llm.Config{Provider: "openai"}, "OPENAI_API_KEY"},
		{"anthropic without key", llm.Config{Provider: "anthropic"}, "ANTHROPIC_API_KEY"},
		{"gemini without key", llm.Config{Provider: "gemini"}, "GEMINI_API_KEY"},
		{"bad base URL", llm.Config{Provider: "ollama", BaseURL: "localhost:11434"}, "not an http(s) URL"},
		{"ollama needs no key", llm.Config{Provider: "ollama"}, ""},
		{"custom endpoint needs no key", llm.Config{Provider: "openai", BaseURL: "http://127.0.0.1:8080/v1"}, ""},
		{"openrouter", llm.Config{Provider: "openrouter", APIKey: "k"}, ""},
		{"anthropic", llm.Config{Provider: "anthropic", APIKey: "k"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := llm.New(tc.cfg)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.cfg.Provider, p.Name())
		})
	}
}

func TestNoModel(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, func(c *llm.Config) { c.Model = "" })
			e := completeErr(t, p)
			require.Contains(t, e.Message, "no model")
			require.False(t, e.Retryable)
			require.Empty(t, srv.Requests())
		})
	}
}

// TestEnvironmentIsIgnored checks that the SDKs' environment defaults cannot
// redirect a configured provider, replace its key, add headers, or send a key
// to a provider configured without one. It cannot run in parallel: it sets
// environment variables.
func TestEnvironmentIsIgnored(t *testing.T) {
	trap := llmtest.NewOpenAI(t) // requests must never arrive here
	for _, name := range []string{"OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"} {
		t.Setenv(name, trap.URL())
	}
	t.Setenv("OPENAI_API_KEY", "env-openai-key")
	t.Setenv("ANTHROPIC_API_KEY", "env-anthropic-key")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "env-anthropic-token")
	t.Setenv("OPENAI_ORG_ID", "env-org")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Injected: openai")
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Injected: anthropic")

	for _, wc := range wireCases() {
		for _, key := range []string{testKey, ""} {
			srv := wc.start(t)
			p, err := llm.New(llm.Config{Provider: wc.provider, Model: "m", BaseURL: srv.URL(), APIKey: key})
			require.NoError(t, err)
			srv.Reply(llmtest.Text("ok"))

			_, err = p.Complete(context.Background(), llm.Request{Messages: []llm.Message{userText("hi")}})
			require.NoError(t, err)
			req, ok := srv.Last()
			require.True(t, ok)
			if key == "" {
				require.Empty(t, req.Header.Get("Authorization"), "%s: the environment's key must not be sent", wc.provider)
			} else {
				require.Equal(t, "Bearer "+key, req.Header.Get("Authorization"))
			}
			require.Empty(t, req.Header.Get("X-Api-Key"))
			require.Empty(t, req.Header.Get("X-Injected"))
			require.Empty(t, req.Header.Get("OpenAI-Organization"))
		}
	}
	require.Empty(t, trap.Requests())
}
