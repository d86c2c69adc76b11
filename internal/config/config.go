// Package config builds opsctl's typed configuration. It is the only package
// that uses viper. Precedence, highest first: a flag the user set, an
// OPSCTL_* environment variable, the config file, the built-in default.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/mcp"
)

// Config is the effective configuration.
type Config struct {
	// DB is the SQLite database file.
	DB string `mapstructure:"db"`
	// AutoMigrate brings an older database up to date (after a backup) on
	// first use; when false, commands stop with exit 4 and ask for
	// `opsctl migrate`.
	AutoMigrate bool         `mapstructure:"auto_migrate"`
	Runner      Runner       `mapstructure:"runner"`
	Agent       agent.Config `mapstructure:"agent"`
	// MCPServers are the configured MCP servers by name, exactly as written
	// in the file (not expanded: ${VAR} is expanded when a server starts,
	// so a missing variable only matters to the tasks that use it).
	MCPServers map[string]mcp.ServerConfig `mapstructure:"-"`

	file    string            // the config file read, "" if none
	sources map[string]string // key -> where its value came from
}

// Runner configures `opsctl run`.
type Runner struct {
	Workers int           `mapstructure:"workers"` // concurrent tasks; 0 means the number of CPUs
	Lease   time.Duration `mapstructure:"lease"`   // lease length; renewed at a third of it
	Grace   time.Duration `mapstructure:"grace"`   // shutdown grace for in-flight tasks
	Poll    time.Duration `mapstructure:"poll"`    // idle poll interval
	Timeout time.Duration `mapstructure:"timeout"` // default task timeout; 0 means none
	// OutputTail is how many bytes of each of stdout and stderr an exec task
	// keeps in its result.
	OutputTail int `mapstructure:"output_tail"`
}

// Options says where to look.
type Options struct {
	// File is --config; "" means the default location, which may be absent.
	File string
	// Flags maps config keys to the flags that set them. Only flags the user
	// changed take part.
	Flags map[string]*pflag.Flag
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// EnvPrefix is the prefix of opsctl's environment variables.
const EnvPrefix = "OPSCTL"

// Keys lists the scalar settings in display order.
func Keys() []string {
	return []string{"db", "auto_migrate", "runner.workers", "runner.lease", "runner.grace",
		"runner.poll", "runner.timeout", "runner.output_tail",
		"agent.provider", "agent.model", "agent.base_url", "agent.api_key_env",
		"agent.max_steps", "agent.max_tokens", "agent.timeout", "agent.memory_budget"}
}

func defaults(getenv func(string) string) map[string]any {
	return map[string]any{
		"db":                  DefaultDBPath(getenv),
		"auto_migrate":        true,
		"runner.workers":      0,
		"runner.lease":        30 * time.Second,
		"runner.grace":        10 * time.Second,
		"runner.poll":         50 * time.Millisecond,
		"runner.timeout":      time.Duration(0),
		"runner.output_tail":  64 * 1024,
		"agent.provider":      "openai",
		"agent.model":         "",
		"agent.base_url":      "",
		"agent.api_key_env":   "",
		"agent.max_steps":     10,
		"agent.max_tokens":    0,
		"agent.timeout":       time.Duration(0),
		"agent.memory_budget": 0,
	}
}

// DefaultDBPath is $XDG_DATA_HOME/opsctl/opsctl.db, falling back to
// ~/.local/share.
func DefaultDBPath(getenv func(string) string) string {
	return filepath.Join(xdgDir(getenv, "XDG_DATA_HOME", ".local/share"), "opsctl", "opsctl.db")
}

// DefaultFile is $XDG_CONFIG_HOME/opsctl/config.yaml, falling back to
// ~/.config.
func DefaultFile(getenv func(string) string) string {
	return filepath.Join(xdgDir(getenv, "XDG_CONFIG_HOME", ".config"), "opsctl", "config.yaml")
}

func xdgDir(getenv func(string) string, name, fallback string) string {
	if d := getenv(name); d != "" && filepath.IsAbs(d) {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, fallback)
}

// EnvName is the environment variable for a key: runner.lease -> OPSCTL_RUNNER_LEASE.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load builds the configuration.
func Load(opts Options) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	v := viper.New()
	sources := map[string]string{}
	for k, d := range defaults(getenv) {
		v.SetDefault(k, d)
		sources[k] = "default"
	}

	file := opts.File
	explicit := file != ""
	if !explicit {
		file = DefaultFile(getenv)
	}
	v.SetConfigFile(file)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
		file = ""
	}
	if file != "" {
		for _, k := range v.AllKeys() {
			if v.InConfig(k) {
				sources[k] = "file " + file
			}
		}
	}

	// Environment variables are read through getenv, not viper's own
	// lookup, so that what counts as "the environment" is explicit.
	for _, k := range Keys() {
		if val := getenv(EnvName(k)); val != "" {
			v.Set(k, val)
			sources[k] = "env " + EnvName(k)
		}
	}
	for k, f := range opts.Flags {
		if f != nil && f.Changed {
			v.Set(k, f.Value.String())
			sources[k] = "flag --" + f.Name
		}
	}

	c := &Config{file: file, sources: sources}
	if err := v.Unmarshal(c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if file != "" {
		servers, err := readMCPServers(file)
		if err != nil {
			return nil, err
		}
		c.MCPServers = servers
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) validate() error {
	switch {
	case c.DB == "":
		return errors.New("config: db must not be empty")
	case c.Runner.Workers < 0:
		return fmt.Errorf("config: runner.workers must be 0 or more, not %d", c.Runner.Workers)
	case c.Runner.Lease < time.Second:
		return fmt.Errorf("config: runner.lease must be at least 1s, not %s", c.Runner.Lease)
	case c.Runner.Poll <= 0:
		return fmt.Errorf("config: runner.poll must be positive, not %s", c.Runner.Poll)
	case c.Runner.Grace < 0 || c.Runner.Timeout < 0:
		return errors.New("config: runner.grace and runner.timeout must not be negative")
	case c.Runner.OutputTail < 0:
		return errors.New("config: runner.output_tail must not be negative")
	case c.Agent.MaxSteps < 0 || c.Agent.MaxTokens < 0 || c.Agent.Timeout < 0:
		return errors.New("config: agent.max_steps, agent.max_tokens and agent.timeout must not be negative")
	}
	for name, sc := range c.MCPServers {
		if err := sc.Validate(name); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// File is the config file that was read, or "".
func (c *Config) File() string { return c.file }

// Setting is one effective value and where it came from.
type Setting struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Settings lists the effective values with their sources.
func (c *Config) Settings() []Setting {
	vals := map[string]string{
		"db":                  c.DB,
		"auto_migrate":        fmt.Sprint(c.AutoMigrate),
		"runner.workers":      fmt.Sprint(c.Runner.Workers),
		"runner.lease":        c.Runner.Lease.String(),
		"runner.grace":        c.Runner.Grace.String(),
		"runner.poll":         c.Runner.Poll.String(),
		"runner.timeout":      c.Runner.Timeout.String(),
		"runner.output_tail":  fmt.Sprint(c.Runner.OutputTail),
		"agent.provider":      c.Agent.Provider,
		"agent.model":         c.Agent.Model,
		"agent.base_url":      c.Agent.BaseURL,
		"agent.api_key_env":   c.Agent.APIKeyEnv,
		"agent.max_steps":     fmt.Sprint(c.Agent.MaxSteps),
		"agent.max_tokens":    fmt.Sprint(c.Agent.MaxTokens),
		"agent.timeout":       c.Agent.Timeout.String(),
		"agent.memory_budget": fmt.Sprint(c.Agent.MemoryBudget),
	}
	var out []Setting
	for _, k := range Keys() {
		out = append(out, Setting{Key: k, Value: vals[k], Source: c.sources[k]})
	}
	// List settings come from the config file only.
	lists := []struct {
		key  string
		vals []string
	}{
		{"agent.tools", c.Agent.Tools}, {"agent.mcp_servers", c.Agent.MCPServers},
		{"agent.read_file_dirs", c.Agent.ReadFileDirs}, {"agent.run_command_allow", c.Agent.RunCommandAllow},
		{"agent.http_allow_hosts", c.Agent.HTTPAllowHosts}, {"agent.redact_env", c.Agent.RedactEnv},
	}
	for _, l := range lists {
		src := c.sources[l.key]
		if src == "" {
			src = "default"
		}
		out = append(out, Setting{Key: l.key, Value: "[" + strings.Join(l.vals, ", ") + "]", Source: src})
	}
	return out
}
