package runner

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opsctl/opsctl/internal/db"
)

// write is one pending store write: an event, an outcome, or a release.
type write struct {
	event   *db.NewEvent
	outcome *db.Outcome
	release int64
}

// taskEvents is the Events a handler gets; it queues events for the writer.
type taskEvents struct {
	id     int64
	writes chan<- write
}

func (e *taskEvents) Emit(kind string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		raw, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	e.writes <- write{event: &db.NewEvent{TaskID: e.id, Kind: kind, Data: raw}}
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
		if err := r.flush(ctx, batch); err != nil && firstErr == nil {
			firstErr = err
			fmt.Fprintf(r.opts.Log, "opsctl: write results: %v\n", err)
		}
	}
	return firstErr
}

func (r *Runner) flush(ctx context.Context, batch []write) error {
	var evs []db.NewEvent
	var outs []db.Outcome
	var releases []int64
	for _, w := range batch {
		switch {
		case w.event != nil:
			evs = append(evs, *w.event)
		case w.outcome != nil:
			outs = append(outs, *w.outcome)
		default:
			releases = append(releases, w.release)
		}
	}
	lost, err := r.opts.Store.Finish(ctx, evs, outs)
	if err != nil {
		return err
	}
	for _, id := range lost {
		fmt.Fprintf(r.opts.Log, "opsctl: task %d: lease lost before its outcome was stored; another runner has it\n", id)
	}
	if len(releases) > 0 {
		if err := r.opts.Store.Release(ctx, r.opts.Worker, releases); err != nil {
			return err
		}
	}
	if r.opts.OnFinish != nil {
		lostSet := map[int64]bool{}
		for _, id := range lost {
			lostSet[id] = true
		}
		for _, o := range outs {
			if !lostSet[o.ID] {
				r.opts.OnFinish(o)
			}
		}
	}
	return nil
}
