package commands

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opsctl/opsctl/internal/db"
)

// Selector picks tasks by what they are instead of by id, for the bulk
// forms of cancel, retry and wait: --status, --queue, --name GLOB, --since,
// --all, and --yes to skip the confirmation a terminal gets.
type Selector struct {
	Statuses []string
	Queues   []string
	Name     string
	Since    string
	All      bool
	Yes      bool
}

// AddFlags registers the selector's flags and their completions.
func (s *Selector) AddFlags(f *Factory, cmd *cobra.Command) {
	s.addFlags(cmd.Flags())
	cmd.RegisterFlagCompletionFunc("status", completeStatuses)
	cmd.RegisterFlagCompletionFunc("queue", completeQueues(f))
}

func (s *Selector) addFlags(fl *pflag.FlagSet) {
	fl.StringSliceVar(&s.Statuses, "status", nil, "select tasks with this status (repeatable)")
	fl.StringSliceVar(&s.Queues, "queue", nil, "select tasks of this queue (repeatable)")
	fl.StringVar(&s.Name, "name", "", "select tasks whose name matches this glob (deploy-*)")
	fl.StringVar(&s.Since, "since", "", "select tasks created since a duration ago (1h, 7d) or a time")
	fl.BoolVar(&s.All, "all", false, "select every task the command applies to")
	fl.BoolVarP(&s.Yes, "yes", "y", false, "do not ask for confirmation on a terminal")
}

// Active reports whether any selector flag was given.
func (s *Selector) Active() bool {
	return len(s.Statuses) > 0 || len(s.Queues) > 0 || s.Name != "" || s.Since != "" || s.All
}

// Select returns the ids of the tasks the flags pick among those in the
// statuses the command applies to (applies), oldest first. A --status
// outside applies is a usage error naming the ones that are.
func (s *Selector) Select(ctx context.Context, f *Factory, verb string, applies []db.Status) ([]int64, error) {
	statuses := applies
	if len(s.Statuses) > 0 {
		statuses = nil
		for _, v := range s.Statuses {
			st := db.Status(v)
			if !slices.Contains(applies, st) {
				return nil, usageErrorf("%s applies to %s tasks, not %q", verb, joinStatuses(applies), v)
			}
			statuses = append(statuses, st)
		}
	}
	if s.Name != "" {
		if _, err := path.Match(s.Name, ""); err != nil {
			return nil, usageErrorf("invalid --name pattern %q: %v", s.Name, err)
		}
	}
	filter := db.Filter{Statuses: statuses, Queues: s.Queues}
	if s.Since != "" {
		t, err := parseSince(s.Since, f.Now())
		if err != nil {
			return nil, err
		}
		filter.Since = t
	}
	store, err := f.ReadStore(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := store.List(ctx, filter)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for i := len(ts) - 1; i >= 0; i-- {
		if ok, _ := path.Match(s.Name, ts[i].Name); s.Name == "" || ok {
			ids = append(ids, ts[i].ID)
		}
	}
	return ids, nil
}

// Confirm says how many tasks were selected and, on a terminal, asks
// before acting on them unless --yes was given. It returns false when
// there is nothing to do or the answer was no.
func (s *Selector) Confirm(f *Factory, verb string, n int) (bool, error) {
	if n == 0 {
		fmt.Fprintf(f.IO.ErrOut, "opsctl: no task matches\n")
		return false, nil
	}
	in, ok := f.IO.In.(*os.File)
	if s.Yes || !ok || !isTerminal(in) || !f.IO.ErrTTY {
		fmt.Fprintf(f.IO.ErrOut, "opsctl: %s %d task(s)\n", verb, n)
		return true, nil
	}
	fmt.Fprintf(f.IO.ErrOut, "%s %d task(s)? [y/N] ", capitalize(verb), n)
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	fmt.Fprintln(f.IO.ErrOut, "opsctl: nothing done")
	return false, nil
}

func joinStatuses(ss []db.Status) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	if len(out) < 2 {
		return strings.Join(out, "")
	}
	return strings.Join(out[:len(out)-1], ", ") + " or " + out[len(out)-1]
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
