package agent

import (
	"fmt"
	"strings"

	"github.com/opsctl/opsctl/internal/llm"
)

// providerNames lists the provider names llm.Preset knows, for messages.
func providerNames() string {
	return strings.Join([]string{"openai", "anthropic", "openrouter", "gemini", "ollama"}, ", ")
}

// checkProvider refuses what can never run: a provider name llm does not
// know, or no model anywhere.
func checkProvider(s settings) error {
	if _, _, _, ok := llm.Preset(s.provider); !ok {
		return fmt.Errorf(`unknown provider %q (known: %s; for another OpenAI-compatible endpoint use "openai" with a base_url)`,
			s.provider, providerNames())
	}
	if s.model == "" {
		return fmt.Errorf(`no model for provider %q: give "model" in the input or set agent.model in the config`, s.provider)
	}
	return nil
}

// resolveAPIKey finds the API key for a run. Config.APIKeyEnv, when set,
// names the variable and makes the key required. Otherwise the preset's
// variable (OPENAI_API_KEY, ...) is read; the key is required for the hosted
// providers, and optional for Ollama and for a configured base_url, which
// often needs none. A base_url the task names itself gets no key at all.
// The error names the variable, never a value.
func resolveAPIKey(s settings, getenv func(string) string) (key, keyEnv string, err error) {
	if s.taskEndpoint {
		return "", "", nil
	}
	_, _, keyEnv, _ = llm.Preset(s.provider)
	needsKey := keyEnv != "" && s.baseURL == ""
	if s.apiKeyEnv != "" {
		keyEnv, needsKey = s.apiKeyEnv, true
	}
	if keyEnv != "" {
		key = getenv(keyEnv)
	}
	if needsKey && key == "" {
		return "", keyEnv, fmt.Errorf("no API key for provider %q: environment variable %s is not set", s.provider, keyEnv)
	}
	return key, keyEnv, nil
}
