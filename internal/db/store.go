// Package db is the task store: the only package that speaks SQL. It owns the
// schema (numbered migration files, embedded), enforces the task state machine
// with conditional updates, and exposes it all through the Store interface so
// that a PostgreSQL implementation can stand beside the SQLite one.
package db

import (
	"context"
	"encoding/json"
	"time"
)

// Status is where a task is in its life.
type Status string

// The task states. See DESIGN.md for the transitions between them.
const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Statuses lists every status in life order.
func Statuses() []Status {
	return []Status{StatusPending, StatusRunning, StatusWaiting, StatusCompleted, StatusFailed, StatusCancelled}
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses() {
		if s == v {
			return true
		}
	}
	return false
}

// Finished reports whether s is a final state.
func (s Status) Finished() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Task is one row of the task table.
type Task struct {
	ID              int64
	Type            string
	Name            string
	Queue           string
	Priority        int
	Status          Status
	Input           json.RawMessage
	Result          json.RawMessage // nil until a handler wrote one
	Error           string
	Attempts        int
	MaxAttempts     int
	RunAfter        time.Time
	Timeout         time.Duration // 0 means no limit
	Key             string        // idempotency key; "" means none
	LeaseWorker     string
	LeaseExpires    time.Time // zero when not running
	CancelRequested bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
	StartedAt       time.Time // zero until first claimed
	FinishedAt      time.Time // zero until finished
}

// NewTask is what a submit stores. Zero values take the defaults: queue
// "default", max attempts 1, run after now.
type NewTask struct {
	Type        string
	Name        string
	Queue       string
	Priority    int
	Input       json.RawMessage
	MaxAttempts int
	RunAfter    time.Time
	Timeout     time.Duration
	Key         string
	After       []int64 // runs after these tasks, which must exist (see FlowStore)
	AfterIndex  []int   // and after these earlier tasks of the same SubmitBatch (0-based)
}

// Event is one entry of a task's append-only log.
type Event struct {
	ID     int64
	TaskID int64
	At     time.Time
	Kind   string
	Data   json.RawMessage
}

// NewEvent is an event to append.
type NewEvent struct {
	TaskID int64
	Kind   string
	Data   json.RawMessage
	// Worker and Attempt, when Worker is set, fence the event by the lease:
	// it is written only while the task is running under that worker and
	// attempt, so late output of a runner that lost its lease (paused past
	// it, say) never lands after another runner's outcome.
	Worker  string
	Attempt int
}

// Event kinds written by the store itself.
const (
	EventStatus = "status"
)

// Filter selects tasks for List. Empty slices match everything.
type Filter struct {
	Statuses []Status
	Types    []string
	Queues   []string
	Since    time.Time // created at or after; zero means any time
	Limit    int       // 0 means no limit
	// BeforeID keeps tasks whose id is below it: the cursor of the next
	// page (List returns the newest first). 0 means no bound.
	BeforeID int64
	// Search keeps tasks whose name contains it, ignoring the case of
	// ASCII letters only (% _ and \ match themselves), and the task whose
	// id it is when it is a decimal number (digits only). "" means any.
	// A name search reads tasks newest first until it has a page: it is
	// not indexed.
	Search string
}

// PruneFilter selects finished tasks to delete.
type PruneFilter struct {
	FinishedBefore time.Time
	Statuses       []Status // finished statuses only; empty means all finished
}

// SubmitResult says what Submit did.
type SubmitResult struct {
	ID      int64
	Existed bool // the idempotency key matched an earlier task; nothing was written
}

// ClaimRequest asks for ready tasks.
type ClaimRequest struct {
	Worker string
	Queues []string // empty means every queue
	Types  []string // only these types (the handlers this runner has); empty means any
	Limit  int
	Lease  time.Duration
	// QueueLimits are the runner's config per queue (see QueueLimit); claims
	// with none limited or paused take the fast path.
	QueueLimits map[string]QueueLimit
}

// Outcome is how a running task ended, as a runner reports it.
type Outcome struct {
	ID     int64
	Worker string
	// Attempt is the attempt the worker claimed (Task.Attempts after the
	// claim); the outcome is stored only if the task still runs under the
	// same worker and attempt.
	Attempt int
	// Status is completed, failed or cancelled; or pending for a retry
	// (RunAfter then says when), which keeps the attempt counted.
	Status Status
	Result json.RawMessage
	Error  string
	// RetryIn, for a retry, is how long after the outcome is stored the
	// task runs again, by the database's clock (runners' clocks differ).
	// RunAfter, if set, says it as a time instead.
	RetryIn  time.Duration
	RunAfter time.Time
}

// FinishResult says what Finish stored.
type FinishResult struct {
	// Lost lists outcomes that changed nothing: the task no longer runs
	// under that worker and attempt.
	Lost []int64
	// DroppedEvents counts events not written because their task is gone
	// (pruned) or, for fenced events, no longer held by their worker.
	DroppedEvents int
}

// RescueRequest says which expired leases a rescue may take.
type RescueRequest struct {
	// Worker is the rescuing runner: leases it holds itself are never taken
	// (its own tasks are alive; it renews them).
	Worker string
	// Grace is how long a lease must stay expired after a rescuer first saw
	// it so, with the write lock free, before the task is taken.
	Grace time.Duration
}

// Heartbeat is what the store tells a runner about its running tasks.
type Heartbeat struct {
	Lost   []int64 // no longer running under this worker (rescued, or gone)
	Cancel []int64 // a cancel was requested
}

// Store is the task store. All methods are safe for concurrent use, and every
// state change is one committed transaction.
type Store interface {
	// Submit stores one pending task, or finds the task with the same key.
	Submit(ctx context.Context, t NewTask) (SubmitResult, error)
	// SubmitBatch stores all tasks in one transaction, all or nothing.
	SubmitBatch(ctx context.Context, ts []NewTask) ([]SubmitResult, error)
	Get(ctx context.Context, id int64) (Task, error)
	List(ctx context.Context, f Filter) ([]Task, error)
	Count(ctx context.Context) (int64, error)
	// Cancel moves a pending task to cancelled, or flags a running one for
	// its runner. It returns the task after the change.
	Cancel(ctx context.Context, id int64) (Task, error)
	// Retry moves a failed or cancelled task back to pending with a fresh
	// attempt budget.
	Retry(ctx context.Context, id int64) (Task, error)
	Prune(ctx context.Context, f PruneFilter, dryRun bool) (int64, error)

	// AppendEvents appends events in one transaction; events of tasks that
	// no longer exist, or fenced events whose lease is gone, are skipped
	// and counted.
	AppendEvents(ctx context.Context, evs []NewEvent) (dropped int, err error)
	// Events returns events of a task with ids above afterID, oldest first.
	Events(ctx context.Context, taskID, afterID int64, limit int) ([]Event, error)
	// LastEvents returns a task's newest n events, oldest first, and how
	// many events the task has in all.
	LastEvents(ctx context.Context, taskID int64, n int) ([]Event, int64, error)

	// Claim moves up to Limit ready tasks to running under a lease.
	Claim(ctx context.Context, r ClaimRequest) ([]Task, error)
	// Renew extends the leases of a worker's running tasks.
	Renew(ctx context.Context, worker string, ids []int64, lease time.Duration) (Heartbeat, error)
	// Finish appends events, then records outcomes, in one transaction; an
	// outcome for a task the worker no longer holds is dropped and its id
	// returned, and so are events as AppendEvents says. Runners batch their
	// writes through it.
	Finish(ctx context.Context, evs []NewEvent, outs []Outcome) (FinishResult, error)
	// Ready reports, without writing, whether a claim could find a task.
	Ready(ctx context.Context, queues, types []string) (bool, error)
	// CancelRequested lists a worker's running tasks whose cancel was
	// requested, without writing.
	CancelRequested(ctx context.Context, worker string) ([]int64, error)
	// Release puts a worker's running tasks back to pending without counting
	// the attempt (graceful shutdown).
	Release(ctx context.Context, worker string, ids []int64) error
	// Rescue returns running tasks whose lease expired to pending (attempt
	// counted, run after a backoff) or fails them with "worker lost" when no
	// attempts are left. It is two-phase (see RescueRequest.Grace): a lease
	// is taken on the pass after the one that found it expired. It returns
	// how many tasks it changed.
	Rescue(ctx context.Context, r RescueRequest) (int, error)
	Close() error

	// RegisterRunner writes (or rewrites) a runner's row, its heartbeat set
	// to now, and deletes rows whose heartbeat is older than
	// RunnerForgetAfter. A zero StartedAt means now.
	RegisterRunner(ctx context.Context, r RunnerInfo) error
	// RunnerHeartbeat sets a runner's heartbeat to now; ErrRunnerNotRegistered
	// when its row is gone (register again).
	RunnerHeartbeat(ctx context.Context, id string) error
	// UnregisterRunner deletes a runner's row (a graceful exit).
	UnregisterRunner(ctx context.Context, id string) error
	// Runners lists registered runners, live or gone, oldest start first.
	Runners(ctx context.Context) ([]RunnerInfo, error)
	// CountByQueue counts tasks by queue and status, without writing.
	CountByQueue(ctx context.Context) ([]QueueCount, error)

	// CountMatching counts the tasks List(f) would return without its Limit
	// and BeforeID, but stops at max: capped is then true and n is max.
	// max <= 0 means no cap.
	CountMatching(ctx context.Context, f Filter, max int64) (n int64, capped bool, err error)
	// EventsSince returns events of every task with ids above afterID,
	// oldest first, at most limit (0: all): one query feeds every live
	// stream. On PostgreSQL an id is taken when an event is inserted and
	// seen when its transaction commits, so an event can appear below an
	// id already read (two writers committing out of order, a window of
	// milliseconds); SQLite has one writer and no such gap.
	EventsSince(ctx context.Context, afterID int64, limit int) ([]Event, error)
	// LastEventID returns the highest event id, 0 when there is none.
	LastEventID(ctx context.Context) (int64, error)
	// Stats summarises tasks that finished (completed, failed, cancelled):
	// counts per bucket from since, truncated down to a multiple of bucket
	// (time.Truncate), to now, and durations per type over those that
	// finished at or after since. bucket must be a whole number of
	// milliseconds, and the window at most MaxStatsBuckets buckets long.
	Stats(ctx context.Context, since time.Time, bucket time.Duration) (Stats, error)

	// CreateToken stores an API token; ErrTokenExists (wrapped) when its
	// name is taken. The name must not be empty, the hash must be 32 bytes
	// (a SHA-256) and the scope valid. A zero CreatedAt means now.
	CreateToken(ctx context.Context, t Token) error
	// Tokens lists the tokens, oldest first (never nil).
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken deletes the named token; a *TokenNotFoundError when there
	// is none.
	RevokeToken(ctx context.Context, name string) error
	// TokenByHash finds the token whose hash is hash; an error wrapping
	// ErrNotFound (not a *TokenNotFoundError) when none.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// TokenUsed sets a token's last use to now; a *TokenNotFoundError when
	// the token is gone (revoked meanwhile).
	TokenUsed(ctx context.Context, name string) error

	ApprovalStore
	SearchStore
	UsageStore
	ScheduleStore
	FlowStore
	QueueStore
	NotifyStore
}

// Scope is what an API token may do: read < write < admin.
type Scope string

// The token scopes.
const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
	ScopeAdmin Scope = "admin"
)

// Allows reports whether a token of scope s may do what need requires.
func (s Scope) Allows(need Scope) bool { return s.rank() >= need.rank() && need.rank() > 0 }

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s.rank() > 0 }

func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeWrite:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Token is an API token of `opsctl serve`. The secret itself is never
// stored: Hash is its SHA-256. Times are UTC, to the millisecond, as the
// store keeps them.
type Token struct {
	Name       string
	Hash       []byte
	Scope      Scope
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
}

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// Stats is what Stats returns.
type Stats struct {
	// Buckets covers since to now, oldest first, one per bucket length
	// (empty buckets included), by the time tasks finished.
	Buckets []StatsBucket
	// Durations are by type name (byte order); never nil.
	Durations []TypeDuration
}

// StatsBucket counts the tasks that finished in [Start, Start+bucket).
type StatsBucket struct {
	Start                        time.Time
	Completed, Failed, Cancelled int64
}

// TypeDuration is how long tasks of one type ran (started to finished),
// over those that finished in the window and had started. Failed counts
// the failed ones among them; P50 is the median (the mean of the two
// middle values for an even count).
type TypeDuration struct {
	Type          string
	Count         int64
	Failed        int64
	Avg, P50, Max time.Duration
}

// RunnerInfo is one row of the runners table: an `opsctl run` process that
// registered itself. See RunnerInfo.Live for when it counts as gone.
type RunnerInfo struct {
	ID          string // the worker id in its leases
	Host        string
	PID         int
	Workers     int
	Queues      []string // empty means every queue
	StartedAt   time.Time
	HeartbeatAt time.Time
	Version     string
}

// QueueCount is how many tasks of one queue are in one status.
type QueueCount struct {
	Queue  string
	Status Status
	Count  int64
}
