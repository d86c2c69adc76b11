package commands

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// PruneOptions are the flags of `opsctl prune`.
type PruneOptions struct {
	F         *Factory
	OlderThan string
	Statuses  []string
	DryRun    bool
}

func newPruneCmd(f *Factory, runF func(context.Context, *PruneOptions) error) *cobra.Command {
	opts := &PruneOptions{F: f}
	cmd := &cobra.Command{
		Use:     "prune --older-than DURATION",
		Short:   "Delete finished tasks and their events",
		Example: "  opsctl prune --older-than 30d\n  opsctl prune --older-than 7d --status completed --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPrune(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.OlderThan, "older-than", "", "delete tasks finished longer ago than this (e.g. 30d, 12h)")
	cmd.Flags().StringSliceVarP(&opts.Statuses, "status", "s", nil, "only these finished statuses: completed, failed, cancelled")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "count what would be deleted, delete nothing")
	cmd.MarkFlagRequired("older-than")
	cmd.RegisterFlagCompletionFunc("status", fixedCompletion("completed", "failed", "cancelled"))
	return cmd
}

func runPrune(ctx context.Context, o *PruneOptions) error {
	d, err := parseDuration("--older-than", o.OlderThan)
	if err != nil {
		return err
	}
	statuses, err := parseStatuses(o.Statuses)
	if err != nil {
		return err
	}
	for _, s := range statuses {
		if !s.Finished() {
			return usageErrorf("prune deletes finished tasks only; %s is not finished", s)
		}
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	n, err := s.Prune(ctx, db.PruneFilter{FinishedBefore: o.F.Now().Add(-d), Statuses: statuses}, o.DryRun)
	if err != nil {
		return err
	}
	if o.DryRun {
		fmt.Fprintf(o.F.IO.Out, "would delete %d tasks\n", n)
	} else {
		fmt.Fprintf(o.F.IO.Out, "deleted %d tasks\n", n)
	}
	return nil
}
