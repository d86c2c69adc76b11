package commands

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
)

// RunOptions are the flags of `opsctl run`.
type RunOptions struct {
	F        *Factory
	Once     bool
	Queues   []string
	MaxTasks int
}

func newRunCmd(f *Factory) *cobra.Command {
	opts := &RunOptions{F: f}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Claim ready tasks and run them in this process",
		Long: `Claim ready tasks and run them, until signalled (or, with --once, until
nothing is ready and nothing is running).

Several runners may share one database: each claim is atomic, and a claimed
task carries a lease that the runner renews every third of --lease. If a
runner dies, its leases expire and any other runner puts its tasks back to
pending (the attempt counted) or fails them with "worker lost" when no
attempts are left.

On SIGINT or SIGTERM the runner stops claiming, gives running tasks --grace
to finish, then stops them and puts them back to pending without counting
the attempt, and exits 0. A second signal exits at once (130); the leases
then expire and another runner takes the tasks over.

Exit code: 0 when the runner did its job, even if tasks failed (their
outcome is in the store: use 'opsctl wait' or 'opsctl list --status failed'
to act on it); non-zero only when the runner itself could not work, e.g.
6 when the database is unavailable.`,
		Example: `  opsctl run --workers 4
  */5 * * * * opsctl run --once --queue nightly`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd.Context(), opts) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Once, "once", false, "run what is ready, wait for it, then exit (for cron)")
	fl.StringSliceVar(&opts.Queues, "queue", nil, "only these queues (repeatable; default all)")
	fl.IntVar(&opts.MaxTasks, "max-tasks", 0, "stop after claiming this many tasks")
	fl.Int("workers", 0, "tasks run at once (default: number of CPUs)")
	fl.Duration("lease", 30*time.Second, "lease length; renewed at a third of it")
	fl.Duration("grace", 10*time.Second, "on shutdown, time running tasks get to finish")
	fl.Duration("poll", 50*time.Millisecond, "idle poll interval")
	for key, name := range map[string]string{"runner.workers": "workers", "runner.lease": "lease", "runner.grace": "grace", "runner.poll": "poll"} {
		f.bindFlag(key, fl.Lookup(name))
	}
	return cmd
}

func runRun(ctx context.Context, o *RunOptions) error {
	if o.MaxTasks < 0 {
		return usageErrorf("--max-tasks must not be negative")
	}
	if err := o.F.hideKeys(); err != nil {
		return err
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	workers := c.Runner.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	prog := newProgress(o.F.IO, 0)
	var done, failed atomic.Int64
	opts := runner.Options{
		Store: s, Registry: o.F.Registry, Workers: workers, Queues: o.Queues,
		Lease: c.Runner.Lease, Poll: c.Runner.Poll, Grace: c.Runner.Grace,
		DefaultTimeout: c.Runner.Timeout, Once: o.Once, MaxTasks: o.MaxTasks,
		Log: o.F.IO.ErrOut,
	}
	if o.Once && o.F.IO.ErrTTY {
		opts.OnFinish = func(out db.Outcome) {
			done.Add(1)
			if out.Status == db.StatusFailed {
				failed.Add(1)
			}
		}
	}
	r, err := runner.New(opts)
	if err != nil {
		return err
	}
	stopSignals := exitOnSecondSignal(ctx, o.F)
	defer stopSignals()
	if !o.Once {
		fmt.Fprintf(o.F.IO.ErrOut, "opsctl: runner %s: %d workers on %s\n", r.Worker(), workers, c.DB)
	}
	stopProgress := make(chan struct{})
	if opts.OnFinish != nil {
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					prog.Set(int(done.Load()))
				}
			}
		}()
	}
	err = r.Run(ctx)
	close(stopProgress)
	prog.Done()
	if opts.OnFinish != nil {
		fmt.Fprintf(o.F.IO.ErrOut, "opsctl: %d task(s) finished, %d failed\n", done.Load(), failed.Load())
	}
	return err
}

// exitOnSecondSignal lets the first SIGINT/SIGTERM start a graceful stop
// (it cancels ctx, in Main) and makes a second one exit at once.
func exitOnSecondSignal(ctx context.Context, f *Factory) func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stop := make(chan struct{})
	go func() {
		select {
		case <-stop:
			return
		case <-ctx.Done():
		}
		// The first signal cancelled ctx; drop it if it is still queued.
		select {
		case <-sigs:
		case <-time.After(10 * time.Millisecond):
		}
		select {
		case <-stop:
		case <-sigs:
			fmt.Fprintln(f.IO.ErrOut, "opsctl: second signal: exiting now; leases will expire and another runner takes over")
			f.exit(ExitInterrupted)
		}
	}()
	return func() { signal.Stop(sigs); close(stop) }
}
