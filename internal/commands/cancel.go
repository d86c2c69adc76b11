package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// TaskActionOptions are the arguments of cancel and retry.
type TaskActionOptions struct {
	F   *Factory
	IDs []int64
	// Select picks the tasks instead of IDs (bulk form).
	Select Selector
}

func newCancelCmd(f *Factory, runF func(context.Context, *TaskActionOptions) error) *cobra.Command {
	return newTaskActionCmd(f, runF, &cobra.Command{
		Use:   "cancel (ID... | --status S | --queue Q | --name GLOB | --since D | --all)",
		Short: "Cancel tasks: pending and waiting ones at once, running ones via their runner",
		Long: `Cancel tasks. A pending or waiting task is cancelled at once. A running
task gets a cancel request; its runner sees it with its next heartbeat
(about a second), stops the handler and records the task as cancelled.

Instead of ids, the selector flags pick pending, running and waiting tasks:
they combine (all must match). The count is printed on stderr; on a terminal
opsctl asks first (--yes skips the question).`,
		Example: `  opsctl cancel 42 43
  opsctl cancel --queue nightly --status pending
  opsctl cancel --name 'deploy-*' --yes`,
		ValidArgsFunction: completeTaskIDs(f, db.StatusPending, db.StatusRunning, db.StatusWaiting),
	}, runCancel, "cancel", []db.Status{db.StatusPending, db.StatusRunning, db.StatusWaiting})
}

func newRetryCmd(f *Factory, runF func(context.Context, *TaskActionOptions) error) *cobra.Command {
	return newTaskActionCmd(f, runF, &cobra.Command{
		Use:   "retry (ID... | --status S | --queue Q | --name GLOB | --since D | --all)",
		Short: "Put failed or cancelled tasks back to pending",
		Long: `Put failed or cancelled tasks back to pending, runnable now. Attempts are
reset, so the task gets its whole max-attempts budget again.

Instead of ids, the selector flags pick failed and cancelled tasks: they
combine (all must match). The count is printed on stderr; on a terminal
opsctl asks first (--yes skips the question).`,
		Example: `  opsctl retry 42
  opsctl retry --status failed --since 1h
  opsctl retry --queue nightly --all --yes`,
		ValidArgsFunction: completeTaskIDs(f, db.StatusFailed, db.StatusCancelled),
	}, runRetry, "retry", []db.Status{db.StatusFailed, db.StatusCancelled})
}

func newTaskActionCmd(f *Factory, runF func(context.Context, *TaskActionOptions) error, cmd *cobra.Command, run func(context.Context, *TaskActionOptions) error, verb string, applies []db.Status) *cobra.Command {
	opts := &TaskActionOptions{F: f}
	opts.Select.AddFlags(f, cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) > 0 && opts.Select.Active():
			return usageErrorf("give task ids or selector flags, not both")
		case len(args) == 0 && !opts.Select.Active():
			return usageErrorf("%s needs task ids or a selector (--status, --queue, --name, --since, --all)", verb)
		case len(args) > 0:
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			opts.IDs = ids
		default:
			ids, err := opts.Select.Select(cmd.Context(), f, verb, applies)
			if err != nil {
				return err
			}
			if ok, err := opts.Select.Confirm(f, verb, len(ids)); !ok || err != nil {
				return err
			}
			opts.IDs = ids
		}
		if runF != nil {
			return runF(cmd.Context(), opts)
		}
		return run(cmd.Context(), opts)
	}
	return cmd
}

func runCancel(ctx context.Context, o *TaskActionOptions) error {
	// Cancelling a task cancels its waiting dependants with it: a dependant
	// picked by the same command is then already cancelled, which is what
	// was asked, not a refusal.
	cancelled := map[int64]bool{}
	return eachTask(ctx, o, func(s db.Store, id int64) (string, error) {
		t, err := s.Cancel(ctx, id)
		var te *db.TransitionError
		if errors.As(err, &te) && te.From == db.StatusCancelled {
			if d, derr := s.Dependencies(ctx, id); derr == nil {
				for _, dep := range d.After {
					if cancelled[dep.ID] {
						cancelled[id] = true
						return fmt.Sprintf("task %d: cancelled with its dependency %d", id, dep.ID), nil
					}
				}
			}
		}
		if err != nil {
			return "", err
		}
		cancelled[id] = true
		if t.Status == db.StatusRunning {
			return fmt.Sprintf("task %d: cancel requested (running on %s)", id, t.LeaseWorker), nil
		}
		return fmt.Sprintf("task %d: cancelled", id), nil
	})
}

func runRetry(ctx context.Context, o *TaskActionOptions) error {
	return eachTask(ctx, o, func(s db.Store, id int64) (string, error) {
		if _, err := s.Retry(ctx, id); err != nil {
			return "", err
		}
		return fmt.Sprintf("task %d: pending again", id), nil
	})
}

// eachTask applies fn to every id, reporting each on stdout or stderr, and
// exits with the worst code: a missing id (3) outranks a refused change (1).
func eachTask(ctx context.Context, o *TaskActionOptions, fn func(db.Store, int64) (string, error)) error {
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	code := ExitOK
	var last error
	for _, id := range o.IDs {
		msg, err := fn(s, id)
		if err == nil {
			fmt.Fprintln(o.F.IO.Out, msg)
			continue
		}
		var te *db.TransitionError
		var nw *db.NotWaitingError
		var xe *db.ExpiredError
		if !errors.Is(err, db.ErrNotFound) && !errors.As(err, &te) && !errors.As(err, &nw) && !errors.As(err, &xe) {
			return err // the database itself failed: stop here
		}
		last = err
		if c := exitCode(err); c > code {
			code = c
		}
		if len(o.IDs) > 1 {
			fmt.Fprintf(o.F.IO.ErrOut, "opsctl: %v\n", err)
		}
	}
	if code == ExitOK {
		return nil
	}
	if len(o.IDs) > 1 {
		return silentExit(code)
	}
	return &exitError{code: code, err: last}
}
