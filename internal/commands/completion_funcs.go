package commands

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/mcp"
)

func completeStatuses(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, s := range db.Statuses() {
		out = append(out, string(s))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func fixedCompletion(vals ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return vals, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeTaskIDs offers recent task ids with their status and name, newest
// first, optionally only in some statuses.
func completeTaskIDs(f *Factory, statuses ...db.Status) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		// Pressing TAB must not create, migrate or back up a database.
		s, err := f.peekDB(cmd.Context())
		if s == nil || err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer s.Close()
		ts, err := s.List(cmd.Context(), db.Filter{Statuses: statuses, Limit: 100})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError | cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, t := range ts {
			id := fmt.Sprint(t.ID)
			if strings.HasPrefix(id, prefix) {
				out = append(out, fmt.Sprintf("%s\t%s %s", id, t.Status, displayName(t)))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeQueues offers "default" and the queues of the newest tasks.
// Like task ids, it reads the database only if it exists, and never
// creates, migrates or backs it up.
func completeQueues(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		queues := []string{"default"}
		s, err := f.peekDB(cmd.Context())
		if s == nil || err != nil {
			return queues, cobra.ShellCompDirectiveNoFileComp
		}
		defer s.Close()
		ts, err := s.List(cmd.Context(), db.Filter{Limit: 1000})
		if err != nil {
			return queues, cobra.ShellCompDirectiveNoFileComp
		}
		for _, t := range ts {
			if !slices.Contains(queues, t.Queue) {
				queues = append(queues, t.Queue)
			}
		}
		slices.Sort(queues)
		return queues, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeProviders offers the provider presets llm knows, in the order
// help lists them.
func completeProviders(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, name := range []string{"openai", "anthropic", "openrouter", "ollama", "gemini"} {
		if _, _, _, ok := llm.Preset(name); ok {
			out = append(out, name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeFormats offers the values of a command's -o.
func completeFormats(formats ...string) cobra.CompletionFunc {
	return fixedCompletion(formats...)
}

// completeMCPServerNames offers the enabled MCP servers of the config, for
// a flag such as submit --mcp.
func completeMCPServerNames(f *Factory) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		c, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, name := range slices.Sorted(maps.Keys(c.MCPServers)) {
			if c.MCPServers[name].IsEnabled() {
				out = append(out, name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeToolNames offers the built-in tools and, without starting any
// server, the SERVER__TOOL names of the enabled MCP servers whose config
// lists its tools.
func completeToolNames(f *Factory) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var out []string
		var cfg agent.Config
		c, err := f.Config()
		if err == nil {
			cfg = c.Agent
		}
		for _, bt := range agent.BuiltinTools(cfg) {
			out = append(out, bt.Spec.Name+"\t"+bt.Spec.Description)
		}
		if err != nil {
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		for _, name := range slices.Sorted(maps.Keys(c.MCPServers)) {
			sc := c.MCPServers[name]
			if !sc.IsEnabled() {
				continue
			}
			for _, tool := range sc.Tools {
				out = append(out, mcp.ToolName(name, tool)+"\tMCP server "+name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
