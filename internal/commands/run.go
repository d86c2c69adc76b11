package commands

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
	"github.com/opsctl/opsctl/internal/schedule"
)

// RunOptions are the flags of `opsctl run`.
type RunOptions struct {
	F         *Factory
	Once      bool
	Queues    []string
	MaxTasks  int
	LogFormat string
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
the attempt, and exits 0. A second signal stops running tasks at once (no
grace), puts them back to pending the same way, and exits 130.

The config is read once, at start: SIGHUP does not reload it (it is noted
and ignored); restart the runner to apply a change.

On stderr the runner prints a line when a task starts and when its outcome
is stored ("task 12 started (exec: ./sync.sh)", "task 12 completed in 8.1s
(exit 0)"), and its own notes. --log-format json prints each as one JSON
object per line (time, level, msg, event, task, type, queue, status,
attempt, max_attempts, duration_ms, error, ...) for journald and log
shippers. With --once, a last line says how many tasks finished and failed.

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
	fl.String("log-format", runner.LogText, "stderr lines: text, or json (one object per line, for journald and log shippers)")
	cmd.RegisterFlagCompletionFunc("log-format", fixedCompletion(runner.LogFormats()...))
	cmd.RegisterFlagCompletionFunc("queue", completeQueues(f))
	for key, name := range map[string]string{"runner.workers": "workers", "runner.lease": "lease", "runner.grace": "grace", "runner.poll": "poll", "runner.log_format": "log-format"} {
		f.bindFlag(key, fl.Lookup(name))
	}
	return cmd
}

func runRun(ctx context.Context, o *RunOptions) error {
	if o.MaxTasks < 0 {
		return usageErrorf("--max-tasks must not be negative")
	}
	// First, before anything is printed: it may re-execute the process.
	if err := o.F.hideKeys(); err != nil {
		return err
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	o.LogFormat = c.Runner.LogFormat
	if !validLogFormat(o.LogFormat) {
		return usageErrorf("--log-format must be %s, not %q", strings.Join(runner.LogFormats(), " or "), o.LogFormat)
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	workers := c.Runner.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	// The progress line (run --once on a terminal, text format) and the
	// log lines share stderr: each line clears the progress line first.
	var prog *progress
	if o.Once && o.LogFormat != runner.LogJSON {
		prog = newProgress(o.F.IO, 0)
	}
	errOut := &lineWriter{w: o.F.IO.ErrOut, prog: prog}
	log, err := runner.NewLogger(errOut, o.LogFormat)
	if err != nil {
		return usageErr(err)
	}
	notifier, err := newNotifier(o.F, c) // notify.go
	if err != nil {
		return err
	}
	var finished, failed, retried atomic.Int64
	opts := runner.Options{
		Store: s, Registry: o.F.Registry, Workers: workers, Queues: o.Queues, QueueLimits: c.QueueLimits(),
		Lease: c.Runner.Lease, Poll: c.Runner.Poll, Grace: c.Runner.Grace,
		DefaultTimeout: c.Runner.Timeout, Once: o.Once, MaxTasks: o.MaxTasks,
		Logger: log, TaskLog: true, Version: version(), Schedules: schedule.Plan, Notify: notifier,
		OnFinish: func(out db.Outcome) {
			switch out.Status {
			case db.StatusPending:
				retried.Add(1)
				return
			case db.StatusFailed:
				failed.Add(1)
			}
			finished.Add(1)
		},
	}
	r, err := runner.New(opts)
	if err != nil {
		return err
	}
	runDone := make(chan struct{})
	sig := watchSignals(ctx, o.F, r, s, log, runDone)
	defer sig.stop()
	if !o.Once {
		where := db.RedactLocation(c.DB)
		log.Info(fmt.Sprintf("runner %s: %d workers on %s", r.Worker(), workers, where),
			"worker", r.Worker(), "workers", workers, "db", where)
		from := "no config file"
		if c.File() != "" {
			from = "from " + c.File()
		}
		log.Info(fmt.Sprintf("config read once at start (%s); SIGHUP does not reload it: restart the runner to apply a change", from))
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if prog == nil || !o.F.IO.ErrTTY {
			return
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				errOut.progress(int(finished.Load()))
			}
		}
	}()
	err = r.Run(ctx)
	close(runDone)
	close(stopProgress)
	<-progressDone
	errOut.clear()
	if o.Once {
		msg := fmt.Sprintf("%d task(s) finished, %d failed", finished.Load(), failed.Load())
		if n := retried.Load(); n > 0 {
			msg += fmt.Sprintf(", %d failed attempt(s) to be retried", n)
		}
		log.Info(msg, "finished", finished.Load(), "failed", failed.Load(), "retrying", retried.Load())
	}
	if sig.aborted.Load() && err == nil {
		return silentExit(ExitInterrupted)
	}
	return err
}

func validLogFormat(f string) bool {
	for _, v := range runner.LogFormats() {
		if f == v {
			return true
		}
	}
	return false
}

// lineWriter is stderr for the runner's log lines. Each Write is one
// whole line (slog writes a record at once); on a terminal it first clears
// run --once's progress line, which the next tick draws again.
type lineWriter struct {
	mu   sync.Mutex
	w    io.Writer
	prog *progress
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prog != nil {
		l.prog.Clear()
	}
	return l.w.Write(p)
}

func (l *lineWriter) progress(done int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prog.Set(done)
}

func (l *lineWriter) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prog != nil {
		l.prog.Done()
	}
}

// Bounds of the stop after a second signal: how long the runner gets to
// stop its tasks and store their releases itself, then how long a last
// release of whatever it still holds may take.
const (
	abortWait    = 5 * time.Second
	releaseLimit = 5 * time.Second
)

// runSignals is what watchSignals started.
type runSignals struct {
	stop    func()
	aborted atomic.Bool // a second signal came
}

// watchSignals handles the runner's signals. The first SIGINT/SIGTERM
// starts a graceful stop (it cancels ctx, in Main). A second one aborts:
// running tasks are cancelled at once and put back to pending (the attempt
// not counted) through the runner, whose Run then returns and the command
// exits 130. If that has not happened within abortWait (a handler that
// does not stop, a write that hangs), whatever the runner still holds is
// released here, within releaseLimit, and the process exits 130 either
// way; a third signal exits at once. SIGHUP is noted and ignored: the
// config is read once.
func watchSignals(ctx context.Context, f *Factory, r *runner.Runner, s db.Store, log *slog.Logger, runDone <-chan struct{}) *runSignals {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	stop := make(chan struct{})
	rs := &runSignals{}
	var once sync.Once
	rs.stop = func() {
		once.Do(func() {
			signal.Stop(sigs)
			signal.Stop(hup)
			close(stop)
		})
	}
	noteHUP := func() {
		log.Warn("SIGHUP: config is not reloaded; restart the runner to apply changes")
	}
	go func() {
		first := ctx.Done()
		for first != nil {
			select {
			case <-stop:
				return
			case <-hup:
				noteHUP()
			case <-first:
				first = nil
			}
		}
		// The first signal cancelled ctx; drop it if it is still queued.
		select {
		case <-sigs:
		case <-time.After(10 * time.Millisecond):
		}
		for {
			select {
			case <-stop:
				return
			case <-hup:
				noteHUP()
				continue
			case <-sigs:
			}
			break
		}
		rs.aborted.Store(true)
		log.Warn("second signal: stopping running tasks now and putting them back to pending")
		r.Abort()
		timer := time.NewTimer(abortWait)
		defer timer.Stop()
		for {
			select {
			case <-runDone:
				return
			case <-stop:
				return
			case <-hup:
				noteHUP()
				continue
			case <-sigs:
				log.Warn("third signal: exiting now; tasks still held go back to pending when their leases expire")
				exitNow(f, ExitInterrupted)
				return
			case <-timer.C:
			}
			break
		}
		ids := r.Held()
		rctx, cancel := context.WithTimeout(context.Background(), releaseLimit)
		err := s.Release(rctx, r.Worker(), ids)
		cancel()
		if err != nil {
			log.Error(fmt.Sprintf("could not put %d task(s) back to pending: %v; they go back when their leases expire", len(ids), err))
		} else {
			log.Warn(fmt.Sprintf("tasks did not stop within %s; put %d task(s) back to pending, exiting", abortWait, len(ids)))
		}
		exitNow(f, ExitInterrupted)
	}()
	return rs
}

// closeLimit bounds how long exitNow waits for the store to close.
const closeLimit = time.Second

// exitNow ends the process with code, closing the store first (f.exit) but
// not waiting more than closeLimit for it: closing waits for statements in
// flight, and the runner's writer may be stuck on a write lock that
// another process holds (up to the 30 s busy timeout).
func exitNow(f *Factory, code int) {
	done := make(chan struct{})
	go func() {
		f.exit(code) // returns only when f.Exit is a test's hook
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeLimit):
		if f.Exit != nil {
			f.Exit(code)
			return
		}
		os.Exit(code)
	}
}
