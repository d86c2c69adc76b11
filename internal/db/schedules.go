package db

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ScheduleStore is the part of the Store for recurring schedules (migration 9).
//
// A schedule is a task template and a spec (an interval or a cron
// expression in a zone). Runners call EnqueueDue from their loops; each
// slot of a schedule becomes at most one task, whatever the number of
// runners, because the task is inserted in the transaction that advances
// the schedule's next_run_at, conditionally on its old value, and carries
// the idempotency key ScheduleKey(name, slot). The store never parses a
// spec: the caller's SlotFunc computes slots (internal/schedule).
type ScheduleStore interface {
	// CreateSchedule stores sc (NextRunAt must be set); ErrScheduleExists
	// (wrapped) when its name is taken. Zero CreatedAt means now.
	CreateSchedule(ctx context.Context, sc Schedule) error
	// Schedules lists every schedule by name, each with its last task's
	// status (never nil).
	Schedules(ctx context.Context) ([]Schedule, error)
	// GetSchedule returns the named schedule; a *ScheduleNotFoundError
	// when there is none.
	GetSchedule(ctx context.Context, name string) (Schedule, error)
	// PauseSchedule stops the named schedule from enqueuing; changed is
	// false when it was paused already.
	PauseSchedule(ctx context.Context, name string) (changed bool, err error)
	// ResumeSchedule lets a paused schedule enqueue again from next (its
	// first slot after now: the slots it missed while paused are not
	// made up); changed is false when it was not paused.
	ResumeSchedule(ctx context.Context, name string, next time.Time) (changed bool, err error)
	// DeleteSchedule deletes the named schedule. Its tasks stay.
	DeleteSchedule(ctx context.Context, name string) error
	// EnqueueDue enqueues one task for each active schedule whose
	// next_run_at has come, by the store's clock: for its latest slot
	// (the slots before it that were missed, a runner being down, are
	// dropped), or records the slot as skipped when SkipIfRunning is set
	// and its last task is not finished. Each schedule is one transaction
	// that also advances next_run_at, conditionally, so concurrent callers
	// never enqueue a slot twice. When nothing is due it only reads.
	// A SlotFunc error skips that schedule (the others go on) and is
	// returned, joined, with the result.
	EnqueueDue(ctx context.Context, plan SlotFunc) (DueResult, error)
}

// Schedule is one row of the schedules table.
type Schedule struct {
	Name string
	// Every is the interval of an interval schedule (whole seconds, slots
	// on multiples of it since the Unix epoch); 0 for a cron schedule.
	Every time.Duration
	// Cron is the cron expression of a cron schedule, TZ the IANA zone
	// it is read in; both "" for an interval schedule.
	Cron string
	TZ   string
	// SkipIfRunning skips a slot while the last task is not finished.
	SkipIfRunning bool
	Paused        bool
	// Task is the template of every occurrence: its Type, Name, Queue,
	// Priority, Input, MaxAttempts and Timeout (Key and RunAfter are set
	// per occurrence).
	Task NewTask
	// NextRunAt is the next slot; while paused, the slot it was at.
	NextRunAt time.Time
	// LastRunAt is the slot of the last task enqueued, LastTaskID that
	// task, and LastStatus its status ("" when none, or pruned since).
	LastRunAt  time.Time
	LastTaskID int64
	LastStatus Status
	// Skipped counts slots skipped by SkipIfRunning; LastSkippedAt is the
	// latest of them.
	Skipped       int64
	LastSkippedAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// SlotFunc plans a due schedule at now (sc.NextRunAt <= now): slot is its
// latest slot in [sc.NextRunAt, now], next its first slot after now.
type SlotFunc func(sc Schedule, now time.Time) (slot, next time.Time, err error)

// DueResult is what EnqueueDue did.
type DueResult struct {
	// Now is the store's clock when it looked.
	Now time.Time
	// Next is the earliest NextRunAt of the active schedules afterwards;
	// zero when there are none.
	Next time.Time
	// Occurrences lists the slots this call handled (none that another
	// caller handled first).
	Occurrences []Occurrence
}

// Occurrence is one slot of a schedule that EnqueueDue handled.
type Occurrence struct {
	Schedule string
	Slot     time.Time
	// TaskID is the task enqueued; when Skipped, the unfinished task the
	// slot was skipped for.
	TaskID  int64
	Skipped bool
	// Existed says the slot's key was already a task's (a schedule of the
	// same name, removed and added again): nothing new was inserted.
	Existed bool
}

// ScheduleKey is the idempotency key of a schedule's task for slot.
func ScheduleKey(name string, slot time.Time) string {
	return "schedule:" + name + ":" + slot.UTC().Format(time.RFC3339)
}

// ErrScheduleExists is returned by CreateSchedule for a name already taken.
var ErrScheduleExists = errors.New("a schedule of that name exists")

// ScheduleNotFoundError says no schedule has that name.
type ScheduleNotFoundError struct{ Name string }

func (e *ScheduleNotFoundError) Error() string { return fmt.Sprintf("no schedule named %q", e.Name) }

// Unwrap lets errors.Is(err, ErrNotFound) match.
func (e *ScheduleNotFoundError) Unwrap() error { return ErrNotFound }

// checkSchedule refuses a schedule the table would refuse, in words.
func checkSchedule(sc Schedule) error {
	switch {
	case sc.Name == "":
		return errors.New("create schedule: no name")
	case (sc.Every > 0) == (sc.Cron != ""):
		return fmt.Errorf("create schedule %q: give an interval or a cron expression, one of them", sc.Name)
	case sc.Every > 0 && sc.Every%time.Second != 0:
		return fmt.Errorf("create schedule %q: interval %s is not whole seconds", sc.Name, sc.Every)
	case sc.NextRunAt.IsZero():
		return fmt.Errorf("create schedule %q: no next run", sc.Name)
	case sc.Task.Type == "":
		return fmt.Errorf("create schedule %q: no task type", sc.Name)
	}
	return nil
}

// occurrenceTask is the task of sc for slot.
func occurrenceTask(sc Schedule, slot time.Time) NewTask {
	t := sc.Task
	t.Key, t.RunAfter = ScheduleKey(sc.Name, slot), slot
	return t
}
