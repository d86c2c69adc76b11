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
	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/mcp"
	"github.com/opsctl/opsctl/internal/notify"
)

// Config is the effective configuration.
type Config struct {
	// DB is the SQLite database file, or a postgres:// URL.
	DB string `mapstructure:"db"`
	// DBPollOnly turns PostgreSQL's LISTEN off: runners poll (PgBouncer in
	// transaction mode passes no notifications).
	DBPollOnly bool `mapstructure:"db_poll_only"`
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
	// Queues are per-queue limits and pauses by queue name (queues.go).
	Queues map[string]QueueConfig `mapstructure:"queues"`
	// Notify are the notification rules, in order (notify.go).
	Notify []notify.Rule `mapstructure:"notify"`

	files    []string          // the config files read, lowest precedence first
	mcpFiles map[string]string // MCP server name -> the file that defined it
	sources  map[string]string // key -> where its value came from
	warnings []string

	priceFiles map[string]string // model -> the file that priced it (prices.go)
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
	// LogFormat is how `opsctl run` writes its lines on stderr: text or
	// json.
	LogFormat string `mapstructure:"log_format"`
}

// Options says where to look.
type Options struct {
	// File is --config; "" means $OPSCTL_CONFIG, else the system file and
	// then the user's file, both of which may be absent.
	File string
	// SystemFile is the system-wide file under the user's; "" means
	// /etc/opsctl/config.yaml, "-" none.
	SystemFile string
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
	return []string{"db", "db_poll_only", "auto_migrate", "runner.workers", "runner.lease", "runner.grace",
		"runner.poll", "runner.timeout", "runner.output_tail", "runner.log_format",
		"agent.provider", "agent.model", "agent.base_url", "agent.api_key_env",
		"agent.max_steps", "agent.max_tokens", "agent.timeout", "agent.memory_budget",
		"agent.approval_timeout", "agent.max_cost_usd"}
}

func defaults(getenv func(string) string) map[string]any {
	return map[string]any{
		"db":                     DefaultDBPath(getenv),
		"db_poll_only":           false,
		"auto_migrate":           true,
		"runner.workers":         0,
		"runner.lease":           30 * time.Second,
		"runner.grace":           10 * time.Second,
		"runner.poll":            50 * time.Millisecond,
		"runner.timeout":         time.Duration(0),
		"runner.output_tail":     64 * 1024,
		"runner.log_format":      "text",
		"agent.provider":         "openai",
		"agent.model":            "",
		"agent.base_url":         "",
		"agent.api_key_env":      "",
		"agent.max_steps":        10,
		"agent.max_tokens":       0,
		"agent.timeout":          time.Duration(0),
		"agent.memory_budget":    0,
		"agent.approval_timeout": agent.DefaultApprovalTimeout,
		"agent.max_cost_usd":     0.0,
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

	files, err := configFiles(opts, getenv)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, file := range files {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.MergeInConfig(); err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
		keys, err := fileKeys(file)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			sources[k] = "file " + file
		}
		warnings = append(warnings, unknownKeys(file, keys)...)
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

	// Read before viper's view of agent.prices, which splits names at dots,
	// is decoded: its errors are about that view.
	prices, priceFiles, err := readPrices(files)
	if err != nil {
		return nil, err
	}
	queues, err := readQueues(files) // queues.go: before viper's view, for its errors
	if err != nil {
		return nil, err
	}
	notifyRules, err := readNotify(files) // notify.go: likewise
	if err != nil {
		return nil, err
	}
	c := &Config{files: files, sources: sources, warnings: warnings}
	if err := v.Unmarshal(c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	for _, file := range files {
		servers, err := readMCPServers(file)
		if err != nil {
			return nil, err
		}
		for name, sc := range servers {
			if c.MCPServers == nil {
				c.MCPServers, c.mcpFiles = map[string]mcp.ServerConfig{}, map[string]string{}
			}
			c.MCPServers[name], c.mcpFiles[name] = sc, file
		}
	}
	c.Agent.Prices, c.priceFiles = prices, priceFiles
	c.Queues = queues
	c.Notify = notifyRules
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
	case c.Runner.LogFormat != "text" && c.Runner.LogFormat != "json":
		return fmt.Errorf("config: runner.log_format must be text or json, not %q", c.Runner.LogFormat)
	case c.Agent.MaxSteps < 0 || c.Agent.MaxTokens < 0 || c.Agent.Timeout < 0:
		return errors.New("config: agent.max_steps, agent.max_tokens and agent.timeout must not be negative")
	case c.Agent.ApprovalTimeout <= 0:
		return fmt.Errorf("config: agent.approval_timeout must be positive, not %s", c.Agent.ApprovalTimeout)
	}
	if err := c.Agent.CheckApproval(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.validateCost(); err != nil {
		return err
	}
	for name, sc := range c.MCPServers {
		if err := sc.Validate(name); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// File is the config file that was read with the highest precedence, or "".
func (c *Config) File() string {
	if len(c.files) == 0 {
		return ""
	}
	return c.files[len(c.files)-1]
}

// MCPServerFile is the file that defined the MCP server name.
func (c *Config) MCPServerFile(name string) string { return c.mcpFiles[name] }

// Files are the config files that were read, lowest precedence first.
func (c *Config) Files() []string { return c.files }

// Warnings are notes about the files read (unknown keys), one line each.
func (c *Config) Warnings() []string { return c.warnings }

// SystemFile is the system-wide config file.
const SystemFile = "/etc/opsctl/config.yaml"

// configFiles lists the files to read, lowest precedence first. A file
// named by --config or $OPSCTL_CONFIG must exist and is the only one read;
// otherwise the system file and the user's file are read if they exist,
// the user's file winning.
func configFiles(opts Options, getenv func(string) string) ([]string, error) {
	explicit, from := opts.File, ""
	if explicit == "" {
		explicit, from = getenv(EnvPrefix+"_CONFIG"), " (from "+EnvPrefix+"_CONFIG)"
	}
	if explicit != "" {
		f, err := os.Open(explicit)
		if err != nil {
			return nil, fmt.Errorf("config %s%s: %w", explicit, from, err)
		}
		f.Close()
		return []string{explicit}, nil
	}
	system := opts.SystemFile
	if system == "" {
		system = SystemFile
	}
	var files []string
	for _, f := range []string{system, DefaultFile(getenv)} {
		if f == "-" {
			continue
		}
		_, err := os.Stat(f)
		switch {
		case err == nil:
			files = append(files, f)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("config %s: %w", f, err)
		}
	}
	return files, nil
}

// Setting is one effective value and where it came from.
type Setting struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Settings lists the effective values with their sources.
func (c *Config) Settings() []Setting {
	vals := map[string]string{
		"db":                     db.RedactLocation(c.DB),
		"db_poll_only":           fmt.Sprint(c.DBPollOnly),
		"auto_migrate":           fmt.Sprint(c.AutoMigrate),
		"runner.workers":         fmt.Sprint(c.Runner.Workers),
		"runner.lease":           c.Runner.Lease.String(),
		"runner.grace":           c.Runner.Grace.String(),
		"runner.poll":            c.Runner.Poll.String(),
		"runner.timeout":         c.Runner.Timeout.String(),
		"runner.output_tail":     fmt.Sprint(c.Runner.OutputTail),
		"runner.log_format":      c.Runner.LogFormat,
		"agent.provider":         c.Agent.Provider,
		"agent.model":            c.Agent.Model,
		"agent.base_url":         c.Agent.BaseURL,
		"agent.api_key_env":      c.Agent.APIKeyEnv,
		"agent.max_steps":        fmt.Sprint(c.Agent.MaxSteps),
		"agent.max_tokens":       fmt.Sprint(c.Agent.MaxTokens),
		"agent.timeout":          c.Agent.Timeout.String(),
		"agent.memory_budget":    fmt.Sprint(c.Agent.MemoryBudget),
		"agent.approval_timeout": c.Agent.ApprovalTimeout.String(),
		"agent.max_cost_usd":     fmt.Sprint(c.Agent.MaxCostUSD),
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
	out = append(out, c.priceSettings()...)
	out = append(out, c.queueSettings()...)
	return out
}
