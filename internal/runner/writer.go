package runner

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// write is one pending store write: an event, an outcome, or a release
// (of task release, claimed as attempt). run, for an outcome or a release,
// is what its log line needs.
type write struct {
	event   *db.NewEvent
	outcome *db.Outcome
	park    *db.Park // the task waits for an approval
	release int64
	attempt int
	run     *taskRun
}

// taskEvents is the Events a handler gets; it queues events for the
// writer, fenced by the task's lease.
type taskEvents struct {
	id      int64
	worker  string
	attempt int
	writes  chan<- write
	store   db.Store
}

// LoadCheckpoint returns the task's checkpoint, for a handler that resumes
// (agent.Checkpoints).
func (e *taskEvents) LoadCheckpoint(ctx context.Context) (json.RawMessage, bool, error) {
	c, ok, err := e.store.LoadCheckpoint(ctx, e.id)
	return c.Data, ok, err
}

// SaveCheckpoint stores the task's checkpoint while this runner holds it.
// It is written at once, not through the writer: a handler saves before
// it does something it must not repeat.
func (e *taskEvents) SaveCheckpoint(ctx context.Context, data json.RawMessage) error {
	ok, err := e.store.SaveCheckpoint(ctx, db.Checkpoint{TaskID: e.id, Worker: e.worker, Attempt: e.attempt, Data: data})
	if err == nil && !ok {
		err = errors.New("this runner no longer holds the task")
	}
	return err
}

// LastApproval returns the task's newest approval request.
func (e *taskEvents) LastApproval(ctx context.Context) (db.Approval, bool, error) {
	return e.store.LastApproval(ctx, e.id)
}

func (e *taskEvents) Emit(kind string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		raw, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	e.writes <- write{event: &db.NewEvent{TaskID: e.id, Kind: kind, Data: raw, Worker: e.worker, Attempt: e.attempt}}
}

// maxBatch bounds one write transaction.
const maxBatch = 1024

// writer is the only goroutine that writes task results: it takes whatever
// has queued up (at most maxBatch) and writes it in one transaction, events
// before outcomes, so a task's output is stored before it shows finished.
// Under load this batches completions with no added delay; when idle each
// write goes out at once.
func (r *Runner) writer(ctx context.Context) error {
	var firstErr error
	for w := range r.writes {
		batch := []write{w}
	drain:
		for len(batch) < maxBatch {
			select {
			case w, ok := <-r.writes:
				if !ok {
					break drain
				}
				batch = append(batch, w)
			default:
				break drain
			}
		}
		if err := r.flushRetrying(ctx, batch); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// flushRetries and flushRetryDelay bound how long a failing write is
// retried (0.1s doubling: about 1.5s in all) before the batch is given up.
const (
	flushRetries    = 5
	flushRetryDelay = 100 * time.Millisecond
)

// flushRetrying writes a batch, retrying a failure: an outcome that is not
// stored would leave its task running until its lease expires, and then be
// run again. When every try fails, the outcomes and releases are written once
// more without the batch's events, since one bad event row (say, late output
// of a task pruned meanwhile) must not cost every other task its outcome.
// Every failure is logged.
func (r *Runner) flushRetrying(ctx context.Context, batch []write) error {
	delay := flushRetryDelay
	var err error
	for try := 1; try <= flushRetries; try++ {
		if err = r.flush(ctx, &batch); err == nil {
			return nil
		}
		r.logf(slog.LevelWarn, "write results (try %d of %d): %v", try, flushRetries, err)
		if try < flushRetries {
			time.Sleep(delay)
			delay *= 2
		}
	}
	var rest []write
	for _, w := range batch {
		if w.event == nil {
			rest = append(rest, w)
		}
	}
	if len(rest) == len(batch) {
		r.giveUp(batch)
		return err
	}
	if rerr := r.flush(ctx, &rest); rerr != nil {
		r.logf(slog.LevelError, "write results without their events: %v", rerr)
		r.giveUp(batch)
		return err
	}
	r.logf(slog.LevelWarn, "dropped %d event(s) that could not be written; outcomes are stored", len(batch)-len(rest))
	return nil
}

// giveUp stops renewing the leases of a batch's tasks whose outcome or
// release could not be stored: their leases expire, and another runner
// (or this one) rescues them.
func (r *Runner) giveUp(batch []write) {
	ids, attempts := settled(batch)
	r.settle(ids, attempts)
}

// settled lists the tasks a batch settles (outcomes and releases), with
// their attempts.
func settled(batch []write) ([]int64, map[int64]int) {
	var ids []int64
	attempts := map[int64]int{}
	for _, w := range batch {
		switch {
		case w.outcome != nil:
			ids = append(ids, w.outcome.ID)
			attempts[w.outcome.ID] = w.outcome.Attempt
		case w.park != nil:
			ids = append(ids, w.park.TaskID)
			attempts[w.park.TaskID] = w.park.Attempt
		case w.event == nil:
			ids = append(ids, w.release)
			attempts[w.release] = w.attempt
		}
	}
	return ids, attempts
}

// flush writes one batch: events and outcomes in one transaction, then
// releases. Once outcomes are stored it logs each task's end and calls
// OnFinish, both only for outcomes that were not found lost, and leaves in
// *batch only what is still to be written (the releases), so that a retry
// after a failed release does not store the outcomes again (and find them
// lost, as they are no longer running).
func (r *Runner) flush(ctx context.Context, batch *[]write) error {
	var evs []db.NewEvent
	var outs []db.Outcome
	var outWrites, parkWrites, releaseWrites []write
	for _, w := range *batch {
		switch {
		case w.event != nil:
			evs = append(evs, *w.event)
		case w.outcome != nil:
			outs = append(outs, *w.outcome)
			outWrites = append(outWrites, w)
		case w.park != nil:
			parkWrites = append(parkWrites, w)
		default:
			releaseWrites = append(releaseWrites, w)
		}
	}
	if len(evs) > 0 || len(outs) > 0 {
		fr, err := r.opts.Store.Finish(ctx, evs, outs)
		if err != nil {
			return err
		}
		*batch = append(parkWrites, releaseWrites...)
		lost := map[int64]bool{}
		for _, id := range fr.Lost {
			lost[id] = true
		}
		if fr.DroppedEvents > 0 {
			r.logf(slog.LevelWarn, "dropped %d event(s) of tasks this runner no longer holds or that were pruned", fr.DroppedEvents)
		}
		ids, attempts := settled(outWrites)
		r.settle(ids, attempts)
		for _, w := range outWrites {
			o := *w.outcome
			if lost[o.ID] {
				t, took := db.Task{ID: o.ID, Attempts: o.Attempt}, time.Duration(0)
				if w.run != nil {
					t, took = w.run.task, w.run.took
				}
				r.logLost(t, took, "before its outcome was stored")
				continue
			}
			r.logEnded(w.run, o)
			if r.opts.OnFinish != nil {
				r.opts.OnFinish(o)
			}
		}
	}
	// A task parks after its events are stored: they are fenced by the
	// lease, which parking gives up.
	for i, w := range parkWrites {
		a, parked, err := r.opts.Store.Park(ctx, *w.park)
		if err != nil {
			*batch = append(parkWrites[i:], releaseWrites...)
			return err
		}
		ids, attempts := settled([]write{w})
		r.settle(ids, attempts)
		r.logParked(w.run, a, parked)
	}
	*batch = releaseWrites
	if len(releaseWrites) == 0 {
		return nil
	}
	releases := make([]int64, len(releaseWrites))
	for i, w := range releaseWrites {
		releases[i] = w.release
	}
	if err := r.opts.Store.Release(ctx, r.opts.Worker, releases); err != nil {
		return err
	}
	*batch = nil
	ids, attempts := settled(releaseWrites)
	r.settle(ids, attempts)
	for _, w := range releaseWrites {
		r.logReleased(w.run)
	}
	return nil
}
