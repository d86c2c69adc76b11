package llm

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Adapter names: the SDK that speaks to a provider. Several providers share
// the OpenAI adapter because they offer an OpenAI-compatible endpoint.
const (
	AdapterOpenAI    = "openai"
	AdapterAnthropic = "anthropic"
)

// Config selects and configures one provider. The caller resolves the API key
// (see Preset for the environment variable that holds it) and passes it in:
// nothing in this package reads the process environment, so a stray
// OPENAI_BASE_URL or ANTHROPIC_API_KEY can neither redirect requests nor
// leak a key to another endpoint.
type Config struct {
	// Provider is a preset name: "openai", "anthropic", "openrouter",
	// "ollama" or "gemini".
	Provider string
	// Model is used when Request.Model is empty.
	Model string
	// BaseURL overrides the preset's endpoint, e.g. a proxy or a test server.
	BaseURL string
	// APIKey is sent as a bearer token. It is required for presets with a
	// key variable unless BaseURL points somewhere else.
	APIKey string
	// MaxRetries is how many times the SDK retries 408, 409, 429, 5xx and
	// connection errors. 0 keeps the SDK default (2); a negative value
	// disables retries, so each call makes exactly one attempt.
	MaxRetries int
	// RequestTimeout limits each attempt (not the whole call, which ctx
	// limits). 0 keeps the SDK default: none for the OpenAI adapter, a
	// limit derived from max_tokens (10 minutes at most) for Anthropic.
	RequestTimeout time.Duration
	// HTTPClient replaces the SDK's HTTP client, e.g. for a proxy or custom
	// TLS. nil keeps the SDK default.
	HTTPClient *http.Client
}

// Preset returns which adapter serves a provider name, its default base URL,
// and the environment variable that conventionally holds its API key (empty
// when the provider needs none). ok is false for an unknown name.
func Preset(name string) (adapter, baseURL, keyEnv string, ok bool) {
	switch name {
	case "openai":
		return AdapterOpenAI, "https://api.openai.com/v1/", "OPENAI_API_KEY", true
	case "anthropic":
		return AdapterAnthropic, "https://api.anthropic.com/", "ANTHROPIC_API_KEY", true
	case "openrouter":
		return AdapterOpenAI, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", true
	case "ollama":
		return AdapterOpenAI, "http://localhost:11434/v1", "", true
	case "gemini":
		return AdapterOpenAI, "https://generativelanguage.googleapis.com/v1beta/openai/", "GEMINI_API_KEY", true
	}
	return "", "", "", false
}

// KeyEnvs lists the environment variables that hold the presets' API keys.
// Processes opsctl starts for other purposes (exec tasks, run_command) do
// not get them.
func KeyEnvs() []string {
	var out []string
	for _, name := range presetNames() {
		if _, _, env, _ := Preset(name); env != "" {
			out = append(out, env)
		}
	}
	return out
}

// EnvWithoutKeys returns env without the presets' key variables and the
// variables named in also: the environment for a process opsctl starts that
// has no business with the keys, and whose output could show them.
func EnvWithoutKeys(env []string, also ...string) []string {
	hidden := append(KeyEnvs(), also...)
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(hidden, name) {
			out = append(out, kv)
		}
	}
	return out
}

// presetNames lists the names Preset knows, for error messages.
func presetNames() []string {
	return []string{"anthropic", "gemini", "ollama", "openai", "openrouter"}
}

// New returns the Provider that cfg selects. It fails for an unknown provider
// name and for a missing API key when the provider's own endpoint needs one.
func New(cfg Config) (Provider, error) {
	adapter, baseURL, keyEnv, ok := Preset(cfg.Provider)
	if !ok {
		return nil, fmt.Errorf("llm: unknown provider %q (known: %s)", cfg.Provider, strings.Join(presetNames(), ", "))
	}
	// A missing key is caught here, before any request, with the name of the
	// variable to set. A custom BaseURL may be a local server or proxy that
	// needs no key, so the check only applies to the preset's own endpoint.
	if keyEnv != "" && cfg.APIKey == "" && cfg.BaseURL == "" {
		return nil, fmt.Errorf("llm: provider %q needs an API key: set %s", cfg.Provider, keyEnv)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = baseURL
	}
	switch adapter {
	case AdapterAnthropic:
		return NewAnthropic(cfg)
	default:
		return NewOpenAI(cfg)
	}
}

// sdkRetries translates Config.MaxRetries into the SDKs' retry count, or -1
// to leave the SDK default alone.
func sdkRetries(n int) int {
	switch {
	case n == 0:
		return -1
	case n < 0:
		return 0
	default:
		return n
	}
}

// modelFor picks the request's model, falling back to the configured one.
func modelFor(req Request, cfg Config) (string, error) {
	if req.Model != "" {
		return req.Model, nil
	}
	if cfg.Model != "" {
		return cfg.Model, nil
	}
	return "", &Error{Provider: cfg.Provider, Message: "no model configured"}
}
