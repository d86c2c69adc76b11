package runner

import (
	"context"
	"log/slog"
	"time"
)

// ScheduleRecheck is how often a runner asks the store for the earliest
// next run of the schedules when none is due sooner: a schedule added or
// resumed by another process is seen within this long. When nothing is
// due the ask is one indexed read, without the write lock.
const ScheduleRecheck = time.Second

// scheduleErrorEvery is how often the same trouble enqueuing schedules is
// logged at most.
const scheduleErrorEvery = time.Minute

// scheduler enqueues the due occurrences of recurring schedules
// (Options.Schedules). It remembers when the next one is due, so it asks
// the store about once a second at most while nothing is.
type scheduler struct {
	r       *Runner
	due     time.Time // by this process's clock; zero: ask at once
	lastErr string
	errAt   time.Time
}

// startSchedules starts enqueuing due schedules until ctx ends or stop is
// called; stop returns once it has stopped. It runs beside the claim loop,
// not in it: a claim that waits on the database (seconds, on a loaded
// PostgreSQL server) must not make a runner miss slots. In Once mode it
// enqueues what is due now, before the loop claims, and no more: a
// schedule that falls due while `run --once` works would keep it running.
func (r *Runner) startSchedules(ctx context.Context) (stop func()) {
	if r.opts.Schedules == nil {
		return func() {}
	}
	s := &scheduler{r: r}
	if r.opts.Once {
		s.enqueue(ctx)
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			if s.enqueue(ctx) {
				// Wake the claim loop: the tasks are ready now.
				select {
				case r.slot <- struct{}{}:
				default:
				}
			}
			timer.Reset(max(time.Until(s.due), 0))
		}
	}()
	return func() { cancel(); <-done }
}

// enqueue asks the store to enqueue what is due and sets when to ask
// next. It reports whether it enqueued any task.
func (s *scheduler) enqueue(ctx context.Context) bool {
	res, err := s.r.opts.Store.EnqueueDue(ctx, s.r.opts.Schedules)
	// The wait is measured on the store's clock (the server's, on
	// PostgreSQL) and counted on this process's: hosts' clocks differ.
	wait := ScheduleRecheck
	if !res.Next.IsZero() {
		if d := res.Next.Sub(res.Now); d > 0 && d < wait {
			wait = d
		}
	}
	s.due = time.Now().Add(wait)
	if err != nil && ctx.Err() == nil {
		s.logErr(err)
	}
	enqueued := false
	for _, o := range res.Occurrences {
		slot := o.Slot.UTC().Format(time.RFC3339)
		switch {
		case o.Skipped:
			s.r.logf(slog.LevelInfo, "schedule %s: slot %s skipped, task %d is not finished", o.Schedule, slot, o.TaskID)
		case o.Existed:
			s.r.logf(slog.LevelWarn, "schedule %s: slot %s is task %d already; nothing enqueued", o.Schedule, slot, o.TaskID)
		default:
			enqueued = true
			s.r.logf(slog.LevelInfo, "schedule %s: task %d enqueued for %s", o.Schedule, o.TaskID, slot)
		}
	}
	return enqueued
}

// logErr logs trouble, the same message at most once per
// scheduleErrorEvery: a schedule that cannot be planned fails each time
// it is asked.
func (s *scheduler) logErr(err error) {
	msg := err.Error()
	if msg == s.lastErr && time.Since(s.errAt) < scheduleErrorEvery {
		return
	}
	s.lastErr, s.errAt = msg, time.Now()
	s.r.logf(slog.LevelWarn, "schedules: %v", err)
}
