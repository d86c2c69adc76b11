package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/schedule"
)

func newSchedulePauseCmd(f *Factory) *cobra.Command {
	return newScheduleNameCmd(f, "pause NAME", "Stop a schedule from enqueuing tasks (its tasks already queued stay)",
		`  opsctl schedule pause backup`, runSchedulePause)
}

func newScheduleResumeCmd(f *Factory) *cobra.Command {
	return newScheduleNameCmd(f, "resume NAME", "Let a paused schedule enqueue again, from its next slot (missed slots are not made up)",
		`  opsctl schedule resume backup`, runScheduleResume)
}

func newScheduleRmCmd(f *Factory) *cobra.Command {
	cmd := newScheduleNameCmd(f, "rm NAME", "Remove a schedule; the tasks it enqueued stay",
		`  opsctl schedule rm backup`, runScheduleRm)
	cmd.Aliases = []string{"remove", "delete"}
	return cmd
}

// newScheduleNameCmd is a subcommand that takes one schedule name.
func newScheduleNameCmd(f *Factory, use, short, example string, run func(context.Context, *ScheduleOptions) error) *cobra.Command {
	opts := &ScheduleOptions{F: f}
	return &cobra.Command{
		Use:               use,
		Short:             short,
		Example:           example,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeScheduleNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return run(cmd.Context(), opts)
		},
	}
}

func runSchedulePause(ctx context.Context, o *ScheduleOptions) error {
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	changed, err := s.PauseSchedule(ctx, o.Name)
	if err != nil {
		return err
	}
	if !changed {
		fmt.Fprintf(o.F.IO.ErrOut, "schedule %s is paused already\n", o.Name)
		return nil
	}
	fmt.Fprintf(o.F.IO.ErrOut, "schedule %s paused\n", o.Name)
	return nil
}

func runScheduleResume(ctx context.Context, o *ScheduleOptions) error {
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	sc, err := s.GetSchedule(ctx, o.Name)
	if err != nil {
		return err
	}
	if !sc.Paused {
		fmt.Fprintf(o.F.IO.ErrOut, "schedule %s is not paused\n", o.Name)
		return nil
	}
	sp, err := schedule.FromSchedule(sc)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", o.Name, err)
	}
	now := o.F.Now()
	next := sp.Next(now)
	if next.IsZero() {
		return fmt.Errorf("schedule %s: its cron expression matches no time in the next five years", o.Name)
	}
	changed, err := s.ResumeSchedule(ctx, o.Name, next)
	if err != nil {
		return err
	}
	if !changed {
		fmt.Fprintf(o.F.IO.ErrOut, "schedule %s is not paused\n", o.Name)
		return nil
	}
	fmt.Fprintf(o.F.IO.ErrOut, "schedule %s resumed; next run %s\n", o.Name, formatTimeLong(next, now, o.F.IO.ErrTTY))
	return nil
}

func runScheduleRm(ctx context.Context, o *ScheduleOptions) error {
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	if err := s.DeleteSchedule(ctx, o.Name); err != nil {
		return err
	}
	fmt.Fprintf(o.F.IO.ErrOut, "schedule %s removed; the tasks it enqueued are kept\n", o.Name)
	return nil
}

// completeScheduleNames offers the schedules' names with their specs. Like
// task ids, it reads the database only if it exists, and never creates,
// migrates or backs it up.
func completeScheduleNames(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		s, err := f.peekDB(cmd.Context())
		if s == nil || err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer s.Close()
		scs, err := s.Schedules(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveError | cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, sc := range scs {
			if strings.HasPrefix(sc.Name, prefix) {
				out = append(out, sc.Name+"\t"+scheduleSpec(sc))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
