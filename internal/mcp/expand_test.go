package mcp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// lookupIn returns a lookup function over a fixed set of variables.
func lookupIn(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestExpandString(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"A": "1", "EMPTY": "", "REF": "${A}", "TOKEN": "t0k"}
	tests := []struct {
		in, want string
		missing  []string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "1"},
		{in: "Bearer ${TOKEN}", want: "Bearer t0k"},
		{in: "pre${A}mid${A}post", want: "pre1mid1post"},
		{in: "${B:-dflt}", want: "dflt"},
		{in: "${A:-dflt}", want: "1"},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${EMPTY}", want: ""},
		{in: "${B:-}", want: ""},
		{in: "${B:-a:-b}", want: "a:-b"},
		{in: "$$", want: "$$"},
		{in: "$$A", want: "$$A"},
		{in: "$A", want: "$A"},
		{in: "${}", want: "${}"},
		{in: "${1A}", want: "${1A}"},
		{in: "${not a name} ${A}", want: "${not a name} 1"},
		{in: "${A", want: "${A"},
		{in: "${REF}", want: "${A}"}, // values are not expanded again
		{in: "${B}", want: "", missing: []string{"B"}},
		{in: "${B}${C}${B}", want: "", missing: []string{"B", "C", "B"}},
	}
	for _, tt := range tests {
		got, missing := expandString(tt.in, lookupIn(vars))
		require.Equal(t, tt.missing, missing, tt.in)
		if tt.missing == nil {
			require.Equal(t, tt.want, got, tt.in)
		}
	}
}

func TestServerConfigExpand(t *testing.T) {
	t.Parallel()
	cfg := ServerConfig{
		Command: "${BIN:-github-mcp}",
		Args:    []string{"--org", "${ORG}", "$$"},
		Env:     map[string]string{"GITHUB_TOKEN": "${GITHUB_TOKEN}", "LEVEL": "${LEVEL:-info}"},
	}
	got, err := cfg.Expand("github", lookupIn(map[string]string{"ORG": "opsctl", "GITHUB_TOKEN": "ghp_x"}))
	require.NoError(t, err)
	require.Equal(t, "github-mcp", got.Command)
	require.Equal(t, []string{"--org", "opsctl", "$$"}, got.Args)
	require.Equal(t, map[string]string{"GITHUB_TOKEN": "ghp_x", "LEVEL": "info"}, got.Env)
	// The original keeps its references: Expand works on a copy.
	require.Equal(t, "${GITHUB_TOKEN}", cfg.Env["GITHUB_TOKEN"])
	require.Equal(t, "${ORG}", cfg.Args[1])

	web := ServerConfig{URL: "https://${HOST:-mcp.example.com}/mcp", Headers: map[string]string{"Authorization": "Bearer ${API_TOKEN}"}}
	gotWeb, err := web.Expand("web", lookupIn(map[string]string{"API_TOKEN": "abc"}))
	require.NoError(t, err)
	require.Equal(t, "https://mcp.example.com/mcp", gotWeb.URL)
	require.Equal(t, "Bearer abc", gotWeb.Headers["Authorization"])
}

func TestServerConfigExpandMissing(t *testing.T) {
	t.Parallel()
	cfg := ServerConfig{Command: "gh", Env: map[string]string{"GITHUB_TOKEN": "${GITHUB_TOKEN}"}}
	_, err := cfg.Expand("github", lookupIn(nil))
	require.EqualError(t, err, `mcp server "github": variable GITHUB_TOKEN is not set`)

	cfg = ServerConfig{URL: "https://${HOST}/mcp", Headers: map[string]string{"Authorization": "Bearer ${TOKEN}", "X-Other": "${HOST}"}}
	_, err = cfg.Expand("web", lookupIn(nil))
	require.EqualError(t, err, `mcp server "web": variables HOST, TOKEN are not set`)
}

func TestServerConfigExpandUsesEnvironmentByDefault(t *testing.T) {
	t.Setenv("OPSCTL_MCP_TEST_EXPAND", "from-env")
	got, err := ServerConfig{Command: "x", Args: []string{"${OPSCTL_MCP_TEST_EXPAND}"}}.Expand("x", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"from-env"}, got.Args)
}
