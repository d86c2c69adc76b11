package serve

import (
	"context"
	"errors"
	"slices"

	"github.com/opsctl/opsctl/internal/db"
)

// maxGroup caps how many submits go in one transaction.
const maxGroup = 512

// submitter groups concurrent submits into one transaction: on SQLite a
// transaction's cost is mostly its commit, so 32 clients submitting at once
// cost one commit, not 32. A submit waits for no timer: the group is
// whatever arrived while the previous one was being written.
type submitter struct {
	store   db.Store
	reqs    chan *submitReq
	stopped chan struct{} // closed when run has returned
}

type submitReq struct {
	task db.NewTask
	done chan submitDone
}

type submitDone struct {
	res db.SubmitResult
	err error
}

func newSubmitter(s db.Store) *submitter {
	return &submitter{store: s, reqs: make(chan *submitReq, maxGroup), stopped: make(chan struct{})}
}

// submit stores t with whatever other submits are waiting.
func (b *submitter) submit(ctx context.Context, t db.NewTask) (db.SubmitResult, error) {
	r := &submitReq{task: t, done: make(chan submitDone, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return db.SubmitResult{}, ctx.Err()
	}
	// Once queued the submit is written even if the client goes away, so
	// the answer is awaited regardless of ctx: a client that retries with
	// its Idempotency-Key then finds its task.
	select {
	case d := <-r.done:
		return d.res, d.err
	case <-b.stopped:
		select {
		case d := <-r.done:
			return d.res, d.err
		default:
			return db.SubmitResult{}, errorf(KindUnavailable, "the server is shutting down")
		}
	}
}

// run writes groups until ctx ends, then fails what is still queued.
func (b *submitter) run(ctx context.Context) {
	for {
		var first *submitReq
		select {
		case first = <-b.reqs:
		case <-ctx.Done():
			b.drain(errorf(KindUnavailable, "the server is shutting down"))
			close(b.stopped)
			return
		}
		group := []*submitReq{first}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-b.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		b.write(group)
	}
}

func (b *submitter) write(group []*submitReq) {
	ts := make([]db.NewTask, len(group))
	for i, r := range group {
		ts[i] = r.task
	}
	// The group is written whatever happens to the requests' contexts.
	res, err := b.store.SubmitBatch(context.Background(), ts)
	// A task whose "after" names no task fails alone: the others of the
	// group are written without it.
	var be *db.BatchError
	var nf *db.DependencyNotFoundError
	if errors.As(err, &be) && errors.As(be.Err, &nf) && be.Index < len(group) {
		group[be.Index].done <- submitDone{err: errorf(KindInvalid, `"after": %v`, nf)}
		if rest := slices.Delete(group, be.Index, be.Index+1); len(rest) > 0 {
			b.write(rest)
		}
		return
	}
	for i, r := range group {
		if err != nil {
			r.done <- submitDone{err: err}
			continue
		}
		r.done <- submitDone{res: res[i]}
	}
}

func (b *submitter) drain(err error) {
	for {
		select {
		case r := <-b.reqs:
			r.done <- submitDone{err: err}
		default:
			return
		}
	}
}
