package config

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/opsctl/opsctl/internal/mcp"
)

// readMCPServers reads the mcp_servers section straight from the YAML file.
// Viper folds every map key to lower case, which would turn a server's
// `env: {GITHUB_TOKEN: ...}` into github_token; environment variable names
// and HTTP header names must keep their case, so this section bypasses it.
func readMCPServers(file string) (map[string]mcp.ServerConfig, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	var doc struct {
		MCPServers map[string]mcp.ServerConfig `yaml:"mcp_servers"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config %s: mcp_servers: %w", file, err)
	}
	return doc.MCPServers, nil
}

// MCPServersRedacted returns the servers with env and header values hidden,
// for display.
func (c *Config) MCPServersRedacted() map[string]mcp.ServerConfig {
	out := make(map[string]mcp.ServerConfig, len(c.MCPServers))
	for name, sc := range c.MCPServers {
		out[name] = sc.Redacted()
	}
	return out
}
