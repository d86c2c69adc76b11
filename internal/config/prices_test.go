package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/config"
)

// Prices keep the model names as written (dots and case: viper would have
// turned gpt-4.1 into gpt-4 and folded GPT-4o), a later file's price of a
// model wins, and `opsctl config` lists each price with its file.
func TestPricesFromFiles(t *testing.T) {
	t.Parallel()
	system := writeFile(t, `agent:
  prices:
    gpt-4o: {input_per_mtok: 5, output_per_mtok: 15}
    claude-sonnet-4-5: {input_per_mtok: 3, output_per_mtok: 15}
`)
	user := writeFile(t, `agent:
  max_cost_usd: 0.5
  prices:
    gpt-4.1:
      input_per_mtok: 2
      output_per_mtok: 8
      cached_input_per_mtok: 0.5
    gpt-4o: {input_per_mtok: 2.5, output_per_mtok: 10}
    Llama-3.1-70B: {input_per_mtok: 0, output_per_mtok: 0}
`)
	half := 0.5
	require.Equal(t, map[string]agent.Price{
		"gpt-4.1":           {InputPerMTok: 2, OutputPerMTok: 8, CachedInputPerMTok: &half},
		"gpt-4o":            {InputPerMTok: 2.5, OutputPerMTok: 10},
		"claude-sonnet-4-5": {InputPerMTok: 3, OutputPerMTok: 15},
		"Llama-3.1-70B":     {},
	}, mergedPrices(t, system, user))

	c, err := config.Load(config.Options{File: user, Getenv: env(map[string]string{"HOME": t.TempDir()})})
	require.NoError(t, err)
	require.Empty(t, c.Warnings())
	require.Equal(t, 0.5, c.Agent.MaxCostUSD)
	require.Equal(t, "file "+user+"=0.5", source(c, "agent.max_cost_usd"))
	require.Equal(t, "file "+user+"=in 2, out 8, cached 0.5 (USD per million tokens)", source(c, "agent.prices.gpt-4.1"))
	require.Equal(t, "file "+user+"=in 0, out 0 (USD per million tokens)", source(c, "agent.prices.Llama-3.1-70B"))
}

// mergedPrices loads the system file under the user's file and returns the
// prices.
func mergedPrices(t *testing.T, system, user string) map[string]agent.Price {
	t.Helper()
	home := t.TempDir()
	// The user's file is $XDG_CONFIG_HOME/opsctl/config.yaml.
	xdg := filepath.Join(home, "xdg")
	require.NoError(t, os.MkdirAll(filepath.Join(xdg, "opsctl"), 0o700))
	b, err := os.ReadFile(user)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(xdg, "opsctl", "config.yaml"), b, 0o600))
	c, err := config.Load(config.Options{SystemFile: system, Getenv: env(map[string]string{"HOME": home,
		"XDG_CONFIG_HOME": xdg})})
	require.NoError(t, err)
	require.Len(t, c.Files(), 2)
	require.Empty(t, c.Warnings())
	return c.Agent.Prices
}

// The default budget comes from the environment too, and the config shows
// it; with none anywhere it is 0 (no budget).
func TestMaxCostFromEnv(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.Options{SystemFile: "-", Getenv: env(map[string]string{"HOME": t.TempDir(),
		"OPSCTL_AGENT_MAX_COST_USD": "1.25"})})
	require.NoError(t, err)
	require.Equal(t, 1.25, c.Agent.MaxCostUSD)
	require.Equal(t, "env OPSCTL_AGENT_MAX_COST_USD=1.25", source(c, "agent.max_cost_usd"))
	require.Nil(t, c.Agent.Prices)

	c, err = config.Load(config.Options{SystemFile: "-", Getenv: env(map[string]string{"HOME": t.TempDir()})})
	require.NoError(t, err)
	require.Equal(t, 0.0, c.Agent.MaxCostUSD)
	require.Equal(t, "default=0", source(c, "agent.max_cost_usd"))
}

// Bad cost settings are config errors that say which file, model and field.
func TestInvalidCostConfig(t *testing.T) {
	t.Parallel()
	cases := []struct{ body, want string }{
		{"agent:\n  max_cost_usd: -1\n", "config: agent.max_cost_usd must be a number 0 or more, not -1"},
		{"agent:\n  prices:\n    m: {input_per_mtok: -1, output_per_mtok: 1}\n",
			"config FILE: agent.prices.m: input_per_mtok must be a number 0 or more, not -1"},
		{"agent:\n  prices:\n    m: {input_per_mtok: 1, output_per_mtok: -0.5}\n",
			"config FILE: agent.prices.m: output_per_mtok must be a number 0 or more, not -0.5"},
		{"agent:\n  prices:\n    m: {input_per_mtok: 1, output_per_mtok: 1, cached_input_per_mtok: -2}\n",
			"config FILE: agent.prices.m: cached_input_per_mtok must be a number 0 or more, not -2"},
		{"agent:\n  prices:\n    m: {input_per_mtoks: 1, output_per_mtok: 1}\n",
			`config FILE: agent.prices.m: unknown field "input_per_mtoks" (want input_per_mtok, output_per_mtok, cached_input_per_mtok)`},
		{"agent:\n  prices:\n    m: {input_per_mtok: 1}\n",
			"config FILE: agent.prices.m: output_per_mtok is missing (US dollars per million tokens)"},
		{"agent:\n  prices:\n    m: 2.5\n",
			"config FILE: agent.prices.m: want a mapping of input_per_mtok, output_per_mtok and cached_input_per_mtok"},
		{"agent:\n  prices:\n    GPT-4o: {input_per_mtok: 1, output_per_mtok: 1}\n    gpt-4o: {input_per_mtok: 2, output_per_mtok: 2}\n",
			`config: agent.prices has both "GPT-4o" and "gpt-4o": model names are matched ignoring case`},
	}
	for _, tc := range cases {
		file := writeFile(t, tc.body)
		_, err := config.Load(config.Options{File: file, Getenv: env(map[string]string{"HOME": t.TempDir()})})
		require.Error(t, err, tc.body)
		require.Equal(t, strings.ReplaceAll(tc.want, "FILE", file), err.Error(), tc.body)
	}
	_, err := config.Load(config.Options{SystemFile: "-", Getenv: env(map[string]string{"HOME": t.TempDir(),
		"OPSCTL_AGENT_MAX_COST_USD": "-0.5"})})
	require.EqualError(t, err, "config: agent.max_cost_usd must be a number 0 or more, not -0.5")
}
