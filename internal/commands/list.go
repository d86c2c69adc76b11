package commands

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// ListOptions are the flags of `opsctl list`.
type ListOptions struct {
	F        *Factory
	Statuses []string
	Types    []string
	Queues   []string
	Since    string
	Limit    int
	All      bool
	Output   string
}

func newListCmd(f *Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tasks, newest first",
		Example: `  opsctl list --status failed --since 24h
  opsctl list -o jsonl --all | jq -r 'select(.attempts > 1) | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVarP(&opts.Statuses, "status", "s", nil, "only these statuses (repeatable or comma-separated)")
	fl.StringSliceVar(&opts.Types, "type", nil, "only these task types")
	fl.StringSliceVar(&opts.Queues, "queue", nil, "only these queues")
	fl.StringVar(&opts.Since, "since", "", "only tasks created since a duration ago (1h, 7d) or a time")
	fl.IntVarP(&opts.Limit, "limit", "L", 50, "at most this many tasks")
	fl.BoolVarP(&opts.All, "all", "a", false, "no limit")
	fl.StringVarP(&opts.Output, "output", "o", formatTable, "output format: table, wide, json, jsonl")
	cmd.RegisterFlagCompletionFunc("status", completeStatuses)
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatWide, formatJSON, formatJSONL))
	return cmd
}

func runList(ctx context.Context, o *ListOptions) error {
	if err := checkFormat(o.Output, formatTable, formatWide, formatJSON, formatJSONL); err != nil {
		return err
	}
	statuses, err := parseStatuses(o.Statuses)
	if err != nil {
		return err
	}
	if o.Limit < 1 && !o.All {
		return usageErrorf("--limit must be at least 1, got %d (use --all for no limit)", o.Limit)
	}
	f := db.Filter{Statuses: statuses, Types: o.Types, Queues: o.Queues, Limit: o.Limit}
	if o.All {
		f.Limit = 0
	}
	now := o.F.Now()
	if o.Since != "" {
		if f.Since, err = parseSince(o.Since, now); err != nil {
			return err
		}
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	ts, err := s.List(ctx, f)
	if err != nil {
		return err
	}
	io := o.F.IO
	switch o.Output {
	case formatJSON:
		return writeJSON(io.Out, tasksJSON(ts))
	case formatJSONL:
		return writeJSONL(io.Out, tasksJSON(ts))
	}
	if len(ts) == 0 && io.OutTTY {
		fmt.Fprintln(io.ErrOut, "no tasks")
		return nil
	}
	wide := o.Output == formatWide
	header := []string{"ID", "Status", "Type", "Name", "Queue", "Created"}
	if wide {
		header = append(header, "Pri", "Attempts", "Started", "Finished", "Worker", "Error")
	}
	tp := newTablePrinter(io, header...)
	for _, t := range ts {
		row := []string{strconv.FormatInt(t.ID, 10), colorStatus(string(t.Status), io.Color), t.Type,
			displayName(t), t.Queue, formatTime(t.CreatedAt, now, io.OutTTY)}
		if wide {
			row = append(row, strconv.Itoa(t.Priority), fmt.Sprintf("%d/%d", t.Attempts, t.MaxAttempts),
				formatTime(t.StartedAt, now, io.OutTTY), formatTime(t.FinishedAt, now, io.OutTTY),
				defaultStr(t.LeaseWorker, "-"), truncate(defaultStr(t.Error, "-"), 60))
		}
		tp.Row(row...)
	}
	return tp.Render()
}

// displayName is the task's name, or a short form of its input.
func displayName(t db.Task) string {
	if t.Name != "" {
		return truncate(t.Name, 40)
	}
	return truncate(inputSummary(t), 40)
}
