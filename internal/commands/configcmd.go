package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/config"
)

// ConfigOptions are the flags of `opsctl config`.
type ConfigOptions struct {
	F      *Factory
	Output string
}

func newConfigCmd(f *Factory, runF func(context.Context, *ConfigOptions) error) *cobra.Command {
	opts := &ConfigOptions{F: f}
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the effective configuration and where each value came from",
		Long: `Show the effective configuration: each value and its source (flag,
environment variable, config file, or default), then one line per MCP
server from mcp_servers. Secrets are redacted: the values of MCP servers'
env and headers are shown as [redacted]. API keys are read from the
environment only and never shown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runConfig(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	return cmd
}

func runConfig(_ context.Context, o *ConfigOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	settings := c.Settings()
	servers := mcpServersJSON(c)
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, struct {
			File       string           `json:"file"`
			Settings   []config.Setting `json:"settings"`
			MCPServers []mcpServerJSON  `json:"mcp_servers"`
		}{c.File(), settings, servers})
	}
	if c.File() != "" {
		fmt.Fprintf(o.F.IO.ErrOut, "config file: %s\n", c.File())
	}
	tp := newTablePrinter(o.F.IO, "Key", "Value", "Source")
	for _, s := range settings {
		tp.Row(s.Key, s.Value, s.Source)
	}
	// One row per MCP server, its whole (redacted) config as compact JSON:
	// servers come from the file only, so that is their source.
	for _, s := range servers {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep "2>&1" in args readable
		if err := enc.Encode(s); err != nil {
			return err
		}
		tp.Row("mcp_servers."+s.Name, strings.TrimSuffix(b.String(), "\n"), "file "+c.File())
	}
	return tp.Render()
}
