package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// WaitOptions are the flags of `opsctl wait`.
type WaitOptions struct {
	F       *Factory
	IDs     []int64
	Timeout string
	Quiet   bool
	// Select picks the tasks instead of IDs (bulk form).
	Select Selector
}

func newWaitCmd(f *Factory) *cobra.Command {
	opts := &WaitOptions{F: f}
	cmd := &cobra.Command{
		Use:   "wait (ID... | --status S | --queue Q | --name GLOB | --since D | --all)",
		Short: "Wait until tasks finish; exit 0 completed, 1 failed, 5 cancelled, 124 timed out",
		Long: `Wait until every task is finished, then exit with the worst outcome:
0 all completed, 1 one failed, 5 one was cancelled, 124 --timeout passed
first (precedence 124 > 5 > 1 > 0). A missing id exits 3 at once.

If a task is still pending 10s into the wait and no runner has been seen
within the last minute, a note on stderr says so, once (not with -q). A
task waiting for approval is not finished: wait goes on through it (see
'opsctl approvals').

Instead of ids, the selector flags pick the tasks to wait for (they
combine: all must match), as they are when wait starts; finished ones count
at once.`,
		Example: `  opsctl wait 42 43 --timeout 10m
  opsctl wait --queue deploy --since 1h
  opsctl submit -q -- ./build.sh | xargs opsctl wait`,
		ValidArgsFunction: completeTaskIDs(f, db.StatusPending, db.StatusRunning, db.StatusWaiting),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ids []int64
			var err error
			switch {
			case len(args) > 0 && opts.Select.Active():
				return usageErrorf("give task ids or selector flags, not both")
			case len(args) == 0 && !opts.Select.Active():
				return usageErrorf("wait needs task ids or a selector (--status, --queue, --name, --since, --all)")
			case len(args) > 0:
				if ids, err = parseIDs(args); err != nil {
					return err
				}
			}
			if opts.Timeout != "" {
				if _, err = parseDuration("--timeout", opts.Timeout); err != nil {
					return err
				}
			}
			if len(args) == 0 {
				if ids, err = opts.Select.Select(cmd.Context(), f, "wait", db.Statuses()); err != nil {
					return err
				}
				if len(ids) == 0 {
					fmt.Fprintln(f.IO.ErrOut, "opsctl: no task matches")
					return nil
				}
				if !opts.Quiet {
					fmt.Fprintf(f.IO.ErrOut, "opsctl: waiting for %d task(s)\n", len(ids))
				}
			}
			opts.IDs = ids
			var timeout time.Duration
			if opts.Timeout != "" {
				if timeout, err = parseDuration("--timeout", opts.Timeout); err != nil {
					return err
				}
			}
			s, err := f.ReadStore(cmd.Context())
			if err != nil {
				return err
			}
			return waitForTasks(cmd.Context(), f, s, ids, timeout, opts.Quiet)
		},
	}
	cmd.Flags().StringVar(&opts.Timeout, "timeout", "", "give up after this long and exit 124")
	cmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing; only the exit code speaks")
	opts.Select.AddFlags(f, cmd)
	cmd.Flags().MarkHidden("yes") // wait changes nothing: there is nothing to confirm
	return cmd
}

// waitPoll is how often wait looks at the store. Polling an indexed row by
// primary key costs microseconds; a tenth of a second keeps wait responsive.
const waitPoll = 100 * time.Millisecond

// outcomeCode is the wait exit code of a finished status.
func outcomeCode(s db.Status) int {
	switch s {
	case db.StatusCompleted:
		return ExitOK
	case db.StatusCancelled:
		return ExitCancelled
	}
	return ExitError
}

// worse orders wait outcomes: timeout > cancelled > failed > completed.
func worse(a, b int) int {
	rank := func(c int) int {
		switch c {
		case ExitTimeout:
			return 3
		case ExitCancelled:
			return 2
		case ExitError:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// waitForTasks blocks until every task is finished or timeout passes
// (0: no limit) and returns the exit code as an error (nil for 0). Unless
// quiet, it notes once on stderr when tasks wait and no runner is alive
// (runnerNotice); submit --wait gets that through here too.
func waitForTasks(ctx context.Context, f *Factory, s db.Store, ids []int64, timeout time.Duration, quiet bool) error {
	var deadline <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	prog := newProgress(f.IO, len(ids))
	defer prog.Done()
	code := ExitOK
	left := append([]int64(nil), ids...)
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	notice := newRunnerNotice(f, s)
	for {
		var still []int64
		pending := false
		for _, id := range left {
			t, err := s.Get(ctx, id)
			if err != nil {
				return err
			}
			if !t.Status.Finished() {
				still = append(still, id)
				pending = pending || t.Status == db.StatusPending
				continue
			}
			code = worse(code, outcomeCode(t.Status))
			prog.Clear()
			if !quiet {
				line := fmt.Sprintf("task %d %s", t.ID, t.Status)
				if t.Error != "" {
					line += ": " + oneLine(t.Error)
				}
				fmt.Fprintln(f.IO.Out, line)
			}
		}
		left = still
		if len(left) == 0 {
			prog.Set(len(ids))
			break
		}
		if line := notice.check(ctx, pending); line != "" && !quiet {
			prog.Clear()
			fmt.Fprintln(f.IO.ErrOut, line)
		}
		prog.Set(len(ids) - len(left))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			prog.Clear()
			if !quiet {
				fmt.Fprintf(f.IO.ErrOut, "opsctl: gave up after %s; %d task(s) not finished\n", timeout, len(left))
			}
			return silentExit(ExitTimeout)
		case <-tick.C:
		}
	}
	if code == ExitOK {
		return nil
	}
	return silentExit(code)
}
