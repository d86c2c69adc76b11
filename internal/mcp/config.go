package mcp

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Defaults applied when a ServerConfig or Options leaves a duration at zero.
const (
	// DefaultTimeout bounds one tool call (and one tool listing).
	DefaultTimeout = 30 * time.Second
	// DefaultStartTimeout bounds starting a server and the MCP handshake.
	DefaultStartTimeout = 10 * time.Second
	// DefaultCloseGrace is how long Close waits after closing a stdio
	// server's input before it sends SIGTERM, and again before SIGKILL.
	DefaultCloseGrace = 2 * time.Second
)

// Transport names returned by ServerConfig.Transport.
const (
	TransportStdio = "stdio"
	TransportHTTP  = "http"
)

// redactedMark replaces secret values in ServerConfig.Redacted.
const redactedMark = "[redacted]"

// ServerConfig describes one MCP server, as written under `mcp.servers.NAME`
// in the config file. A stdio server has Command; a streamable HTTP server
// has URL; exactly one of the two must be set.
type ServerConfig struct {
	// Command is the program of a stdio server, looked up in PATH.
	Command string `mapstructure:"command" yaml:"command,omitempty" json:"command,omitempty"`
	// Args are the program's arguments. ${VAR} references are expanded.
	Args []string `mapstructure:"args" yaml:"args,omitempty" json:"args,omitempty"`
	// Env is the environment given to a stdio server on top of a small
	// base (PATH, HOME, LANG, TMPDIR): the server never inherits the rest
	// of opsctl's environment. ${VAR} references in values are expanded.
	Env map[string]string `mapstructure:"env" yaml:"env,omitempty" json:"env,omitempty"`
	// Dir is the working directory of a stdio server; empty means opsctl's.
	Dir string `mapstructure:"dir" yaml:"dir,omitempty" json:"dir,omitempty"`
	// URL is the endpoint of a streamable HTTP server.
	URL string `mapstructure:"url" yaml:"url,omitempty" json:"url,omitempty"`
	// Headers are added to every HTTP request, typically for
	// authorization. ${VAR} references in values are expanded.
	Headers map[string]string `mapstructure:"headers" yaml:"headers,omitempty" json:"headers,omitempty"`
	// Enabled switches the server off when false; nil means enabled.
	Enabled *bool `mapstructure:"enabled" yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// Timeout bounds each tool call; zero means DefaultTimeout.
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// StartTimeout bounds the start and the MCP handshake; zero means
	// DefaultStartTimeout.
	StartTimeout time.Duration `mapstructure:"start_timeout" yaml:"start_timeout,omitempty" json:"start_timeout,omitempty"`
	// Optional marks a server whose failure to start should be reported as
	// a warning by the caller, which then goes on without its tools,
	// instead of failing the task.
	Optional bool `mapstructure:"optional" yaml:"optional,omitempty" json:"optional,omitempty"`
	// Tools, when set, are the only tools of the server (its own names,
	// without the SERVER__ prefix) that are offered to a model or may be
	// called with `opsctl mcp call`; nil means all of them. A read-only job
	// lists its read tools, and is then never offered the others.
	Tools []string `mapstructure:"tools" yaml:"tools,omitempty" json:"tools,omitempty"`
}

// AllowsTool reports whether the server's tools list lets tool be offered
// and called: any tool when the config has no list.
func (c ServerConfig) AllowsTool(tool string) bool {
	return c.Tools == nil || slices.Contains(c.Tools, tool)
}

// Transport reports how the server is reached: TransportStdio when Command
// is set, TransportHTTP when URL is set, and "" when the config is invalid
// (both or neither).
func (c ServerConfig) Transport() string {
	switch {
	case c.Command != "" && c.URL == "":
		return TransportStdio
	case c.URL != "" && c.Command == "":
		return TransportHTTP
	}
	return ""
}

// IsEnabled reports whether the server should be used. A server is enabled
// unless the config says `enabled: false`.
func (c ServerConfig) IsEnabled() bool {
	return c.Enabled == nil || *c.Enabled
}

// serverName is the shape of a server name. Names become the prefix of the
// SERVER__TOOL names offered to models, so they keep to the characters every
// provider accepts in a tool name, and may not contain the "__" separator or
// end in "_" (which would make the separator ambiguous).
var serverName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// Validate checks the config of the server called name and returns one
// error naming the server and the first problem found. It is meant for an
// expanded config (see Expand), but tolerates ${VAR} references in URL.
func (c ServerConfig) Validate(name string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("mcp server %q: %s", name, fmt.Sprintf(format, args...))
	}
	if !serverName.MatchString(name) || strings.Contains(name, "__") || strings.HasSuffix(name, "_") {
		return fail(`invalid name: use letters, digits, "-" and "_" (not "__", not at the end)`)
	}
	switch {
	case c.Command != "" && c.URL != "":
		return fail("both command and url are set; a server is either stdio (command) or http (url)")
	case c.Command == "" && c.URL == "":
		return fail("neither command nor url is set")
	}
	if c.Timeout < 0 {
		return fail("timeout must not be negative")
	}
	if c.StartTimeout < 0 {
		return fail("start_timeout must not be negative")
	}
	if c.Tools != nil && len(c.Tools) == 0 {
		return fail("tools is empty: list the tools to offer, or leave tools out to offer them all")
	}
	for i, t := range c.Tools {
		switch {
		case strings.TrimSpace(t) == "":
			return fail("tools must not contain an empty name")
		case strings.HasPrefix(t, name+"__"):
			return fail("tools lists %q: name the server's own tools, without the %s__ prefix", t, name)
		case slices.Contains(c.Tools[:i], t):
			return fail("tools lists %q twice", t)
		}
	}
	if c.URL != "" {
		if len(c.Args) > 0 || len(c.Env) > 0 || c.Dir != "" {
			return fail("args, env and dir apply only to stdio servers (command), not to url")
		}
		if err := checkURL(c.URL); err != nil {
			return fail("%v", err)
		}
		for k := range c.Headers {
			if k == "" || strings.ContainsAny(k, " \t\r\n:") {
				return fail("invalid header name %q", k)
			}
		}
		return nil
	}
	if len(c.Headers) > 0 {
		return fail("headers apply only to http servers (url), not to command")
	}
	for k := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fail("invalid environment variable name %q", k)
		}
	}
	return nil
}

// checkURL accepts http and https URLs with a host. The URL itself is never
// quoted in the error, because it may carry a token. An unexpanded ${VAR}
// reference is tolerated, so that a config can be validated before Expand.
func checkURL(raw string) error {
	const msg = "url must be an http:// or https:// URL with a host"
	lower := strings.ToLower(raw)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return fmt.Errorf("%s", msg)
	}
	if strings.Contains(raw, "${") {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s", msg)
	}
	return nil
}

// Redacted returns a copy fit for display (`opsctl config`): environment and
// header values are replaced by "[redacted]", since they usually hold tokens,
// and a password in the URL is masked.
func (c ServerConfig) Redacted() ServerConfig {
	out := c.clone()
	for k := range out.Env {
		out.Env[k] = redactedMark
	}
	for k := range out.Headers {
		out.Headers[k] = redactedMark
	}
	if u, err := url.Parse(out.URL); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			out.URL = u.Redacted()
		}
	}
	return out
}

// withDefaults fills in the zero durations.
func (c ServerConfig) withDefaults() ServerConfig {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	return c
}

// clone copies the config deeply, so that a caller's maps and slices are
// never changed through the copy.
func (c ServerConfig) clone() ServerConfig {
	out := c
	if c.Args != nil {
		out.Args = append([]string(nil), c.Args...)
	}
	if c.Env != nil {
		out.Env = maps.Clone(c.Env)
	}
	if c.Headers != nil {
		out.Headers = maps.Clone(c.Headers)
	}
	if c.Enabled != nil {
		v := *c.Enabled
		out.Enabled = &v
	}
	if c.Tools != nil {
		out.Tools = append([]string{}, c.Tools...)
	}
	return out
}

// Names lists the configured server names, sorted and comma-separated, or
// "none", for messages that name an unknown server.
func Names(servers map[string]ServerConfig) string {
	if len(servers) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(servers)), ", ")
}
