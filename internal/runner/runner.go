package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/notify"
)

// Options configure a Runner.
type Options struct {
	Store    db.Store
	Registry Registry
	// Worker names this runner in leases; empty means host:pid:random.
	Worker  string
	Workers int      // concurrent tasks; at least 1
	Queues  []string // empty means all
	Lease   time.Duration
	Poll    time.Duration // idle poll interval
	Grace   time.Duration // shutdown grace for in-flight tasks
	// QueueLimits are the config's per-queue limits and pauses; claims
	// and the idle poll honour them (see db.QueueLimit).
	QueueLimits map[string]db.QueueLimit
	// DefaultTimeout applies to tasks without their own; 0 means none.
	DefaultTimeout time.Duration
	// CancelPoll is how often running tasks are checked for cancel
	// requests; 0 means 500ms.
	CancelPoll time.Duration
	// Once stops when nothing is ready and nothing is running.
	Once bool
	// MaxTasks stops claiming after this many tasks; 0 means no limit.
	MaxTasks int
	// Backoff is the delay before retry n (1-based); nil means Backoff.
	Backoff func(n int) time.Duration
	// Log receives the runner's own notes (not task output) as text lines
	// when Logger is nil; nil discards.
	Log io.Writer
	// Logger, if set, receives the runner's notes instead of Log (see
	// NewLogger), and with TaskLog a line for each task's start and end.
	Logger *slog.Logger
	// TaskLog logs a line when a task starts and when its outcome is
	// stored (not for an outcome found lost).
	TaskLog bool
	// Version is recorded in the runner's row (see db.RunnerInfo).
	Version string
	// OnFinish, if set, is called after each task's outcome is stored
	// (never for an outcome found lost).
	OnFinish func(db.Outcome)
	// OnClaim, if set, is called with each claimed task (bench uses it).
	OnClaim func(db.Task)
	// Schedules, if set, makes the runner enqueue the due occurrences of
	// recurring schedules, planned by it (see schedules.go).
	Schedules db.SlotFunc
	// Notify, if set, makes the runner deliver the notifications of its
	// rules (see notify.go).
	Notify *notify.Notifier
}

// Runner claims tasks and runs them in this process.
type Runner struct {
	opts   Options
	log    *slog.Logger
	writes chan write
	// abort is closed by Abort: stop now, no grace.
	abort     chan struct{}
	abortOnce sync.Once
	// slot is signalled when a task finishes, so a busy runner claims the
	// next task at once instead of waiting for the poll.
	slot chan struct{}

	mu      sync.Mutex
	running map[int64]*run
	// leased holds every task this runner has claimed and not yet settled
	// (outcome stored or found lost, or released), by id, with its attempt.
	// It outlives running: a finished task's lease is renewed until its
	// outcome is in the store, or a slow write would let another runner
	// rescue a task that already ran and run it again.
	leased  map[int64]int
	claimed int
}

// run is one task in flight.
type run struct {
	task   db.Task
	cancel context.CancelCauseFunc
}

// Causes of a task's context ending, other than its timeout.
var (
	errCancelled = errors.New("cancelled")
	errShutdown  = errors.New("runner shutting down")
	errLeaseLost = errors.New("lease lost")
)

// New checks options and returns a Runner.
func New(opts Options) (*Runner, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("runner: no store")
	case len(opts.Registry) == 0:
		return nil, errors.New("runner: no handlers")
	case opts.Lease < time.Second:
		return nil, fmt.Errorf("runner: lease %s is shorter than 1s", opts.Lease)
	}
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.Poll <= 0 {
		opts.Poll = 50 * time.Millisecond
	}
	if opts.CancelPoll <= 0 {
		opts.CancelPoll = 500 * time.Millisecond
	}
	if opts.Backoff == nil {
		opts.Backoff = Backoff
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	log := opts.Logger
	if log == nil {
		log, _ = NewLogger(opts.Log, LogText)
	}
	if opts.Worker == "" {
		opts.Worker = WorkerID()
	}
	return &Runner{
		opts:    opts,
		log:     log,
		abort:   make(chan struct{}),
		writes:  make(chan write, 8192),
		slot:    make(chan struct{}, 1),
		running: map[int64]*run{},
		leased:  map[int64]int{},
	}, nil
}

// WorkerID is host:pid:random, unique per runner process.
func WorkerID() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Worker is this runner's lease name.
func (r *Runner) Worker() string { return r.opts.Worker }

// Run claims and runs tasks until ctx is done (then shuts down gracefully),
// or, with Once or MaxTasks, until the work is drained. It returns an error
// only when the runner itself could not work.
//
// The runner registers itself in the store (db.RunnerInfo) when it starts,
// beats every few seconds while it runs, and unregisters when Run returns.
func (r *Runner) Run(ctx context.Context) error {
	// Task contexts hang off base, not ctx: a signal must stop claiming
	// without cancelling the work in flight.
	base, stopAll := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopAll(errShutdown)
	// Claims stop when ctx ends or Abort is called.
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	go func() {
		select {
		case <-r.abort:
			stopLoop()
		case <-loopCtx.Done():
		}
	}()

	r.register(ctx)
	writerDone := make(chan error, 1)
	go func() { writerDone <- r.writer(base) }()
	beatCtx, stopBeats := context.WithCancel(base)
	beatsDone := make(chan struct{})
	go func() { r.heartbeat(beatCtx); close(beatsDone) }()

	var wg sync.WaitGroup
	stopSchedules := r.startSchedules(loopCtx)
	stopNotify := r.startNotify(loopCtx)
	err := r.loop(loopCtx, base, &wg)
	stopSchedules()

	// Graceful stop: let in-flight tasks finish within the grace, then
	// cancel them; their outcome is a release, not a counted attempt.
	// After Abort there is no grace.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if r.aborted() {
		r.cancelAll(errShutdown)
	} else if n := r.inFlight(); n > 0 && loopCtx.Err() != nil {
		r.logf(slog.LevelInfo, "stopping: waiting up to %s for %d task(s)", r.opts.Grace, n)
		select {
		case <-done:
		case <-time.After(r.opts.Grace):
			r.cancelAll(errShutdown)
		case <-r.abort:
			r.cancelAll(errShutdown)
		}
	}
	<-done
	// Leases are renewed until the last outcome is stored.
	close(r.writes)
	werr := <-writerDone
	stopNotify() // after the writer: run --once sends what its last outcomes set off
	stopBeats()
	<-beatsDone
	r.unregister(ctx)
	if err == nil {
		err = werr
	}
	return err
}

// Abort stops the runner at once: claims stop, running tasks are cancelled
// with no grace and put back to pending without counting the attempt (as
// when a graceful stop runs out of grace). Run returns once their releases
// are stored. It may be called from any goroutine, more than once.
func (r *Runner) Abort() {
	r.abortOnce.Do(func() { close(r.abort) })
	r.cancelAll(errShutdown)
}

func (r *Runner) aborted() bool {
	select {
	case <-r.abort:
		return true
	default:
		return false
	}
}

// Held lists the tasks whose leases this runner holds: claimed, and their
// outcome or release not yet stored. A caller that cannot wait for Run to
// return after Abort releases these itself (db.Store.Release).
func (r *Runner) Held() []int64 { return r.leasedIDs() }

// runnerBeat is how often a runner's row is beaten: often enough that a
// runner is seen as gone (db.RunnerGoneAfter) only after many missed
// beats, rarely enough to cost nothing.
func (r *Runner) runnerBeat() time.Duration {
	return min(max(r.opts.Lease/3, time.Second), 5*time.Second)
}

func (r *Runner) info() db.RunnerInfo {
	host, _ := os.Hostname()
	return db.RunnerInfo{ID: r.opts.Worker, Host: host, PID: os.Getpid(), Workers: r.opts.Workers,
		Queues: r.opts.Queues, Version: r.opts.Version}
}

// register writes this runner's row. A failure is noted, not fatal: the
// row only tells people (opsctl status, wait) that a runner is alive.
func (r *Runner) register(ctx context.Context) {
	if err := r.opts.Store.RegisterRunner(ctx, r.info()); err != nil && ctx.Err() == nil {
		r.logf(slog.LevelWarn, "could not register this runner: %v", err)
	}
}

// beatRunner renews this runner's row, writing it again if it was deleted.
func (r *Runner) beatRunner(ctx context.Context) {
	err := r.opts.Store.RunnerHeartbeat(ctx, r.opts.Worker)
	if errors.Is(err, db.ErrRunnerNotRegistered) {
		err = r.opts.Store.RegisterRunner(ctx, r.info())
	}
	if err != nil && ctx.Err() == nil {
		r.logf(slog.LevelWarn, "runner heartbeat: %v", err)
	}
}

// unregister deletes this runner's row, waiting at most unregisterLimit.
func (r *Runner) unregister(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unregisterLimit)
	defer cancel()
	if err := r.opts.Store.UnregisterRunner(ctx, r.opts.Worker); err != nil {
		r.logf(slog.LevelWarn, "could not unregister this runner: %v (it shows as gone after %s)", err, db.RunnerGoneAfter)
	}
}

const unregisterLimit = 5 * time.Second

// loop claims while there is room and work, until ctx ends or the run is
// drained.
func (r *Runner) loop(ctx, base context.Context, wg *sync.WaitGroup) error {
	lastRescue := time.Time{}
	rescueEvery := r.opts.Lease / 3
	types := r.opts.Registry.Types()
	timer := time.NewTimer(0)
	defer timer.Stop()
	// A store that can tell when tasks are submitted (PostgreSQL's
	// LISTEN) wakes the loop at once; the poll stays, for tasks that
	// become due by time and for notifications a lost connection missed.
	var wake <-chan struct{}
	if w, ok := r.opts.Store.(db.Waker); ok {
		var err error
		if wake, err = w.Wake(ctx); err != nil {
			r.logf(slog.LevelWarn, "no wake-ups from the database, polling every %s: %v", r.opts.Poll, err)
		}
	}
	busy := false // the last claim found tasks
	for {
		if time.Since(lastRescue) >= rescueEvery {
			if n, err := r.opts.Store.Rescue(ctx, db.RescueRequest{Worker: r.opts.Worker, Grace: rescueEvery}); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if err := r.storeTrouble(ctx, fmt.Errorf("rescue: %w", err)); err != nil {
					return err
				}
			} else if n > 0 {
				r.logf(slog.LevelWarn, "rescued %d task(s) whose runner was lost", n)
			}
			r.expireApprovals(ctx)
			lastRescue = time.Now()
		}
		// A worker slot is free once its task's outcome is stored, not
		// when its handler returns: claiming past outcomes not yet written
		// let the held set grow without bound while writes lagged (50k
		// tasks on PostgreSQL, whose every heartbeat then locked them all
		// and held up the very writes that would free them).
		held := r.leasedCount()
		free := r.opts.Workers - held
		if r.opts.MaxTasks > 0 {
			free = min(free, r.opts.MaxTasks-r.claimedCount())
		}
		claimedNow := 0
		if free > 0 {
			// The read-only Ready check spares an idle runner the write
			// lock; while claims keep finding work it only costs a query.
			ready, err := true, error(nil)
			if !busy {
				ready, err = db.ReadyFor(ctx, r.opts.Store, db.ClaimRequest{Queues: r.opts.Queues, Types: types, QueueLimits: r.opts.QueueLimits})
			}
			if err == nil && ready {
				var ts []db.Task
				ts, err = r.opts.Store.Claim(ctx, db.ClaimRequest{
					Worker: r.opts.Worker, Queues: r.opts.Queues, Types: types, Limit: free, Lease: r.opts.Lease,
					QueueLimits: r.opts.QueueLimits})
				for _, t := range ts {
					r.start(base, wg, t)
				}
				claimedNow = len(ts)
				busy = claimedNow > 0
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if err := r.storeTrouble(ctx, fmt.Errorf("claim: %w", err)); err != nil {
					return err
				}
				continue
			}
		}
		if r.opts.MaxTasks > 0 && r.claimedCount() >= r.opts.MaxTasks {
			return nil
		}
		// Once mode ends when nothing was claimed and nothing is held: a
		// finished task whose outcome is not stored yet may be a retry
		// that is ready again the moment it is. Nor was anything held
		// during the claim: an outcome stored meanwhile may have made room
		// in a limited queue that the claim found full.
		if r.opts.Once && claimedNow == 0 && held == 0 && r.inFlight() == 0 && r.leasedCount() == 0 {
			return nil
		}
		if claimedNow > 0 && free-claimedNow > 0 {
			continue // there may be more ready right now
		}
		timer.Reset(r.opts.Poll)
		select {
		case <-ctx.Done():
			return nil
		case <-r.slot:
		case <-timer.C:
		case _, ok := <-wake:
			if !ok {
				wake = nil
			}
		}
	}
}

// expireApprovals denies the approval requests that waited too long, on
// the rescue's schedule; a failure is logged and tried on the next pass.
func (r *Runner) expireApprovals(ctx context.Context) {
	n, err := r.opts.Store.ExpireApprovals(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		r.logf(slog.LevelWarn, "expire approval requests: %v", err)
	case n > 0:
		r.logf(slog.LevelWarn, "denied %d approval request(s) that waited past agent.approval_timeout", n)
	}
}

// storeTrouble decides what a failed claim or rescue means. A database that
// cannot be used at all, or any failure in --once mode, ends the run: the
// runner cannot do its job and says so with its exit code. A long-running
// runner logs anything else (a busy timeout, a full disk that clears) and
// tries again after a pause, keeping its running tasks alive.
func (r *Runner) storeTrouble(ctx context.Context, err error) error {
	var ue *db.UnavailableError
	if r.opts.Once || errors.As(err, &ue) {
		return err
	}
	r.logf(slog.LevelWarn, "%v; trying again in %s", err, storeRetryDelay)
	select {
	case <-ctx.Done():
	case <-time.After(storeRetryDelay):
	}
	return nil
}

// storeRetryDelay is the pause after a failed claim or rescue.
const storeRetryDelay = time.Second

func (r *Runner) inFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

func (r *Runner) claimedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claimed
}

func (r *Runner) cancelAll(cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ru := range r.running {
		ru.cancel(cause)
	}
}

// cancelTasks cancels the given running tasks with cause.
func (r *Runner) cancelTasks(ids []int64, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if ru, ok := r.running[id]; ok {
			ru.cancel(cause)
		}
	}
}

// leasedCount is how many tasks this runner holds leases of.
func (r *Runner) leasedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.leased)
}

// leasedIDs lists the tasks whose leases this runner renews.
func (r *Runner) leasedIDs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.leased))
	for id := range r.leased {
		ids = append(ids, id)
	}
	return ids
}

// settle forgets the leases of tasks whose outcome or release is stored,
// or that turned out lost: there is nothing left to renew. A task claimed
// again meanwhile under a new attempt keeps its entry.
func (r *Runner) settle(ids []int64, attempts map[int64]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if a, ok := attempts[id]; !ok || r.leased[id] == a {
			delete(r.leased, id)
		}
	}
	select {
	case r.slot <- struct{}{}: // a slot may be free for a claim
	default:
	}
}

// heartbeat renews leases at a third of the lease (those of finished tasks
// too, until their outcome is stored), beats the runner's own row every
// few seconds (with or without tasks), and checks for cancel requests more
// often, with cheap reads.
func (r *Runner) heartbeat(ctx context.Context) {
	renew := time.NewTicker(r.opts.Lease / 3)
	defer renew.Stop()
	beat := time.NewTicker(r.runnerBeat())
	defer beat.Stop()
	check := time.NewTicker(r.opts.CancelPoll)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			r.beatRunner(ctx)
		case <-renew.C:
			ids := r.leasedIDs()
			if len(ids) == 0 {
				continue
			}
			hb, err := r.opts.Store.Renew(ctx, r.opts.Worker, ids, r.opts.Lease)
			if err != nil {
				r.logf(slog.LevelWarn, "heartbeat: %v", err)
				continue
			}
			r.cancelTasks(hb.Lost, errLeaseLost)
			r.cancelTasks(hb.Cancel, errCancelled)
		case <-check.C:
			if r.inFlight() == 0 {
				continue
			}
			ids, err := r.opts.Store.CancelRequested(ctx, r.opts.Worker)
			if err != nil {
				r.logf(slog.LevelWarn, "cancel check: %v", err)
				continue
			}
			r.cancelTasks(ids, errCancelled)
		}
	}
}
