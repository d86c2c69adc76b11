package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// start runs one claimed task in its own goroutine.
func (r *Runner) start(base context.Context, wg *sync.WaitGroup, t db.Task) {
	ctx, cancel := context.WithCancelCause(base)
	r.mu.Lock()
	r.running[t.ID] = &run{task: t, cancel: cancel}
	r.leased[t.ID] = t.Attempts
	r.claimed++
	r.mu.Unlock()
	if r.opts.OnClaim != nil {
		r.opts.OnClaim(t)
	}
	r.logStarted(t)
	wg.Go(func() {
		out, tr, keep := r.execute(ctx, t)
		cancel(nil)
		r.mu.Lock()
		delete(r.running, t.ID)
		r.mu.Unlock()
		if keep {
			r.writes <- write{outcome: &out, run: tr}
		}
		select {
		case r.slot <- struct{}{}:
		default:
		}
	})
}

// execute runs the handler and turns how it ended into an outcome, with
// what the task's log line needs. keep is false when the outcome must not
// be written (the lease was lost, or the task is released).
func (r *Runner) execute(ctx context.Context, t db.Task) (out db.Outcome, tr *taskRun, keep bool) {
	out = db.Outcome{ID: t.ID, Worker: r.opts.Worker, Attempt: t.Attempts}
	tr = &taskRun{task: t, started: time.Now()}
	h := r.opts.Registry[t.Type]
	timeout := t.Timeout
	if timeout == 0 {
		timeout = r.opts.DefaultTimeout
	}
	runCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %s", timeout))
		defer cancel()
	}
	ev := &taskEvents{id: t.ID, worker: r.opts.Worker, attempt: t.Attempts, writes: r.writes, store: r.opts.Store}
	result, err := safeRun(runCtx, h, t.Input, ev)
	out.Result = result
	tr.took = time.Since(tr.started)

	switch cause := context.Cause(runCtx); {
	case errors.Is(cause, errLeaseLost):
		r.settle([]int64{t.ID}, map[int64]int{t.ID: t.Attempts})
		r.logLost(t, tr.took, "while it ran")
		return out, tr, false
	case errors.Is(cause, errShutdown):
		r.writes <- write{release: t.ID, attempt: t.Attempts, run: tr}
		return out, tr, false
	case errors.Is(cause, errCancelled):
		out.Status, out.Error = db.StatusCancelled, "cancelled while running"
		return out, tr, true
	case waits(err) != nil:
		req, wait := waits(err).Park()
		r.writes <- write{park: &db.Park{TaskID: t.ID, Worker: r.opts.Worker, Attempt: t.Attempts, Request: req, Timeout: wait}, run: tr}
		return out, tr, false
	case runCtx.Err() != nil && errors.Is(runCtx.Err(), context.DeadlineExceeded):
		err = cause // a timeout is worth another attempt, if there is one
		tr.timeout = timeout
	case err == nil:
		out.Status = db.StatusCompleted
		return out, tr, true
	}
	out.Status, out.Error = db.StatusFailed, err.Error()
	if t.Attempts < t.MaxAttempts && isRetryable(err) {
		out.Status = db.StatusPending
		tr.retryIn = r.opts.Backoff(t.Attempts)
		out.RetryIn = tr.retryIn
	}
	return out, tr, true
}

// parker is an error of a handler whose task must wait for a person's
// decision (agent.WaitError): the task is parked, not finished.
type parker interface {
	Park() (db.ApprovalRequest, time.Duration)
}

// waits returns err as a parker, or nil.
func waits(err error) parker {
	var p parker
	if err != nil && errors.As(err, &p) {
		return p
	}
	return nil
}

// isRetryable reports whether a failed attempt may be tried again. Every
// error is, while attempts are left (max-attempts is the user's say), unless
// it declares itself permanent with a Retryable() method reporting false:
// a rejected API key will not get better by trying again.
func isRetryable(err error) bool {
	var re interface{ Retryable() bool }
	if errors.As(err, &re) {
		return re.Retryable()
	}
	return true
}

// safeRun calls the handler, turning a panic into an error so one bad
// handler fails its task and the runner keeps going.
func safeRun(ctx context.Context, h Handler, input json.RawMessage, ev Events) (res json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			ev.Emit("warning", map[string]string{"message": fmt.Sprintf("panic: %v", p), "stack": string(debug.Stack())})
			res, err = nil, Permanent(fmt.Errorf("panic: %v", p))
		}
	}()
	return h.Run(ctx, input, ev)
}

// Backoff is the default retry delay: exponential from 1s, capped at 10
// minutes, with full jitter over its upper half so retries of many tasks
// that failed together spread out.
func Backoff(n int) time.Duration {
	d := time.Second << min(max(n-1, 0), 20)
	d = min(d, 10*time.Minute)
	return d/2 + rand.N(d/2+1)
}

// Permanent marks an error as not worth another attempt.
func Permanent(err error) error { return permanent{err} }

type permanent struct{ error }

func (permanent) Retryable() bool { return false }

func (e permanent) Unwrap() error { return e.error }
