package commands

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
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
		c, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError | cobra.ShellCompDirectiveNoFileComp
		}
		if _, err := os.Stat(c.DB); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		s, err := f.openSQLite(cmd.Context(), true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError | cobra.ShellCompDirectiveNoFileComp
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
