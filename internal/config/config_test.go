package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func source(c *config.Config, key string) string {
	for _, s := range c.Settings() {
		if s.Key == key {
			return s.Source + "=" + s.Value
		}
	}
	return ""
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "db: /from/file.db\nrunner:\n  lease: 45s\n  workers: 3\nagent:\n  model: file-model\n  tools: [current_time, http_get]\n")
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Int("workers", 0, "")
	require.NoError(t, fs.Parse([]string{"--workers", "7"}))
	c, err := config.Load(config.Options{
		File:   file,
		Flags:  map[string]*pflag.Flag{"runner.workers": fs.Lookup("workers")},
		Getenv: env(map[string]string{"HOME": "/home/u", "OPSCTL_DB": "/from/env.db", "OPSCTL_RUNNER_WORKERS": "5", "OPSCTL_AGENT_MODEL": "env-model"}),
	})
	require.NoError(t, err)
	require.Equal(t, "/from/env.db", c.DB)
	require.Equal(t, 7, c.Runner.Workers)
	require.Equal(t, 45*time.Second, c.Runner.Lease)
	require.Equal(t, 10*time.Second, c.Runner.Grace)
	require.Equal(t, "env-model", c.Agent.Model)
	require.Equal(t, "env OPSCTL_DB=/from/env.db", source(c, "db"))
	require.Equal(t, "flag --workers=7", source(c, "runner.workers"))
	require.Equal(t, "file "+file+"=45s", source(c, "runner.lease"))
	require.Equal(t, "default=10s", source(c, "runner.grace"))
	require.Equal(t, "file "+file+"=[current_time, http_get]", source(c, "agent.tools"))
	require.Equal(t, "default=[]", source(c, "agent.redact_env"))
}

func TestDefaultsFollowXDG(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.Options{Getenv: env(map[string]string{"HOME": "/home/u"})})
	require.NoError(t, err)
	require.Equal(t, "/home/u/.local/share/opsctl/opsctl.db", c.DB)
	require.Empty(t, c.File(), "a missing default config file is fine")
	c, err = config.Load(config.Options{Getenv: env(map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "/data"})})
	require.NoError(t, err)
	require.Equal(t, "/data/opsctl/opsctl.db", c.DB)
	require.Equal(t, "/cfg/opsctl/config.yaml", config.DefaultFile(env(map[string]string{"XDG_CONFIG_HOME": "/cfg"})))
}

func TestMCPServersKeepCaseAndRedact(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `mcp_servers:
  GitHub:
    command: gh-mcp
    env:
      GITHUB_TOKEN: "${GITHUB_TOKEN}"
  remote:
    url: https://mcp.example.com/mcp
    headers:
      Authorization: Bearer xyz
    timeout: 5s
`)
	c, err := config.Load(config.Options{File: file, Getenv: env(nil)})
	require.NoError(t, err)
	require.Equal(t, "${GITHUB_TOKEN}", c.MCPServers["GitHub"].Env["GITHUB_TOKEN"], "names keep their case; values are expanded later")
	require.Equal(t, 5*time.Second, c.MCPServers["remote"].Timeout)
	red := c.MCPServersRedacted()
	require.Equal(t, "[redacted]", red["remote"].Headers["Authorization"])
	require.Equal(t, "Bearer xyz", c.MCPServers["remote"].Headers["Authorization"], "redaction copies")
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"negative workers": "runner:\n  workers: -1\n",
		"short lease":      "runner:\n  lease: 10ms\n",
		"bad duration":     "runner:\n  lease: soon\n",
		"not yaml":         "runner: [\n",
		"server both":      "mcp_servers:\n  x:\n    command: a\n    url: http://b\n",
		"server neither":   "mcp_servers:\n  x:\n    args: [a]\n",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(config.Options{File: writeFile(t, body), Getenv: env(nil)})
			require.Error(t, err)
		})
	}
	_, err := config.Load(config.Options{File: "/nonexistent/config.yaml", Getenv: env(nil)})
	require.Error(t, err, "an explicit config file must exist")
}

func TestSystemFileUnderUsersAndOPSCTLConfig(t *testing.T) {
	t.Parallel()
	system := writeFile(t, "runner:\n  lease: 40s\n  grace: 3s\nmcp_servers:\n  fs:\n    command: sys-fs\n  git:\n    command: sys-git\n")
	home := t.TempDir()
	user := filepath.Join(home, ".config", "opsctl", "config.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(user), 0o700))
	require.NoError(t, os.WriteFile(user, []byte("runner:\n  lease: 50s\nmcp_servers:\n  fs:\n    command: user-fs\n"), 0o600))
	c, err := config.Load(config.Options{SystemFile: system, Getenv: env(map[string]string{"HOME": home})})
	require.NoError(t, err)
	require.Equal(t, []string{system, user}, c.Files())
	require.Equal(t, 50*time.Second, c.Runner.Lease, "the user's file wins")
	require.Equal(t, 3*time.Second, c.Runner.Grace, "the system file fills in")
	require.Equal(t, "file "+system+"=3s", source(c, "runner.grace"))
	require.Equal(t, "user-fs", c.MCPServers["fs"].Command)
	require.Equal(t, "sys-git", c.MCPServers["git"].Command)

	// OPSCTL_CONFIG names the only file read; it must exist.
	other := writeFile(t, "runner:\n  lease: 70s\n")
	c, err = config.Load(config.Options{SystemFile: system, Getenv: env(map[string]string{"HOME": home, "OPSCTL_CONFIG": other})})
	require.NoError(t, err)
	require.Equal(t, []string{other}, c.Files())
	require.Equal(t, 70*time.Second, c.Runner.Lease)
	require.Equal(t, 10*time.Second, c.Runner.Grace)
	_, err = config.Load(config.Options{SystemFile: system, Getenv: env(map[string]string{"HOME": home, "OPSCTL_CONFIG": "/no/such.yaml"})})
	require.ErrorContains(t, err, "config /no/such.yaml (from OPSCTL_CONFIG): open /no/such.yaml: ")
}

func TestUnknownKeysWarn(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "runner:\n  workrs: 4\n  lease: 40s\nagent:\n  tools: [http_get]\n  colour: blue\nmcp_servers:\n  fs:\n    command: x\n    env: {TOKEN: y}\n")
	c, err := config.Load(config.Options{File: file, SystemFile: "-", Getenv: env(map[string]string{"HOME": "/home/u"})})
	require.NoError(t, err)
	require.Equal(t, []string{
		"config " + file + `: unknown key "agent.colour" is ignored`,
		"config " + file + `: unknown key "runner.workrs" is ignored (did you mean "runner.workers"?)`,
	}, c.Warnings())
}
