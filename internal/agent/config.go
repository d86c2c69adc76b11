package agent

import (
	"time"
)

// Config holds the defaults for agent tasks, read from the `agent:` section of
// the config file. A task's Input wins over every field it also has.
type Config struct {
	// Provider is the default provider name; empty means "openai".
	Provider string `mapstructure:"provider"`
	// Model is the default model of Provider.
	Model string `mapstructure:"model"`
	// BaseURL is the default endpoint of Provider.
	BaseURL string `mapstructure:"base_url"`
	// APIKeyEnv names the environment variable holding Provider's API key,
	// instead of the provider's usual one (OPENAI_API_KEY, ...).
	APIKeyEnv string `mapstructure:"api_key_env"`
	// MaxSteps limits model calls per run; 0 means DefaultMaxSteps.
	MaxSteps int `mapstructure:"max_steps"`
	// MaxTokens is the default token budget per run; 0 means none.
	MaxTokens int `mapstructure:"max_tokens"`
	// Timeout limits a whole run when the task gives none; 0 means none here
	// (the runner's own task timeout still applies).
	Timeout time.Duration `mapstructure:"timeout"`
	// Tools names the tools a task may use when its input names none.
	Tools []string `mapstructure:"tools"`
	// MCPServers names the MCP servers a task uses when its input names none.
	MCPServers []string `mapstructure:"mcp_servers"`
	// MemoryBudget is the approximate size, in tokens, above which the
	// conversation is trimmed before a model call; 0 means never trim.
	MemoryBudget int `mapstructure:"memory_budget"`
	// ReadFileDirs are the directories read_file may read under.
	ReadFileDirs []string `mapstructure:"read_file_dirs"`
	// RunCommandAllow lists the programs run_command may start (argv[0]).
	RunCommandAllow []string `mapstructure:"run_command_allow"`
	// HTTPAllowHosts, when not empty, are the only hosts http_get may fetch.
	HTTPAllowHosts []string `mapstructure:"http_allow_hosts"`
	// HTTPMaxBytes bounds the body http_get returns; 0 means 64 KiB.
	HTTPMaxBytes int `mapstructure:"http_max_bytes"`
	// RedactEnv names environment variables whose values must never appear
	// in events, results or errors (the API key always is redacted).
	RedactEnv []string `mapstructure:"redact_env"`
	// Prices are the prices of models by model name, for the cost of a run
	// (see cost.go).
	Prices map[string]Price `mapstructure:"prices"`
	// MaxCostUSD is the default cost budget per run in US dollars; 0 means
	// none.
	MaxCostUSD float64 `mapstructure:"max_cost_usd"`
	// Approval is the approval policy: tool name patterns (globs) mapped to
	// allow, ask or deny (see approval.go). Empty means every tool is
	// allowed.
	Approval map[string]string `mapstructure:"approval"`
	// ApprovalTimeout is how long a call may wait for a decision before it
	// is denied; 0 means DefaultApprovalTimeout.
	ApprovalTimeout time.Duration `mapstructure:"approval_timeout"`
}

// settings are the effective values for one run: the task's input laid over
// the handler's Config, with defaults filled in.
type settings struct {
	in          Input
	provider    string
	model       string
	baseURL     string
	apiKeyEnv   string
	maxSteps    int
	maxTokens   int
	timeout     time.Duration
	tools       []string
	mcpServers  []string
	temperature *float64
	// taskEndpoint is set when the task's own base_url replaced the
	// configured endpoint; no API key is sent there.
	taskEndpoint bool
}

// defaultProvider is used when neither the task nor the config names one.
const defaultProvider = "openai"

// resolve lays the input over the config. The config's Model, BaseURL and
// APIKeyEnv belong to the config's provider: a task that picks another
// provider does not inherit them, because sending one vendor's key or model
// name to another vendor is never what was meant.
func (c Config) resolve(in Input) settings {
	s := settings{in: in, temperature: in.Temperature}
	cfgProvider := c.Provider
	if cfgProvider == "" {
		cfgProvider = defaultProvider
	}
	s.provider = in.Provider
	if s.provider == "" {
		s.provider = cfgProvider
	}
	if s.provider == cfgProvider {
		s.model, s.baseURL, s.apiKeyEnv = c.Model, c.BaseURL, c.APIKeyEnv
	}
	if in.Model != "" {
		s.model = in.Model
	}
	if in.BaseURL != "" && in.BaseURL != s.baseURL {
		// An endpoint the task names itself gets no key from the runner's
		// environment: whoever can submit a task could otherwise point it
		// at their own server and collect the key. Endpoints that need a
		// key are configured (agent.base_url with agent.api_key_env).
		s.baseURL, s.apiKeyEnv, s.taskEndpoint = in.BaseURL, "", true
	}
	s.maxSteps = firstPositive(in.MaxSteps, c.MaxSteps, DefaultMaxSteps)
	s.maxTokens = firstPositive(in.MaxTokens, c.MaxTokens)
	s.timeout = c.Timeout
	if d := in.timeout(); d > 0 {
		s.timeout = d
	}
	// A nil list means "not given"; an empty list given by the task means
	// "no tools", which is why this tests for nil and not for length.
	s.tools = c.Tools
	if in.Tools != nil {
		s.tools = in.Tools
	}
	s.mcpServers = c.MCPServers
	if in.MCPServers != nil {
		s.mcpServers = in.MCPServers
	}
	return s
}

// firstPositive returns the first of its arguments that is greater than 0,
// or 0 when none is.
func firstPositive[T int | int64 | time.Duration](vals ...T) T {
	for _, v := range vals {
		if v > 0 {
			return v
		}
	}
	return 0
}
