package db

import (
	"context"
	"fmt"
	"slices"
)

// FlowStore is the part of the Store for task dependencies (migration 10).
//
// A task submitted with NewTask.After (or AfterIndex) is not claimed until
// every task it depends on has completed. While it waits it is pending and
// blocked: out of the claim index, so claims never look at it. The
// transaction that completes its last dependency makes it ready; the one in
// which a dependency fails for good or is cancelled cancels it ("dependency
// 41 failed"), and its own dependants after it, down the chain.
type FlowStore interface {
	// Dependencies returns the tasks task id runs after and the tasks that
	// run after it, each in id order, with their statuses. A task without
	// any (or no task id at all) has two empty lists.
	Dependencies(ctx context.Context, id int64) (Dependencies, error)
	// BlockedBy returns, for each task of ids that is pending and still
	// waiting for dependencies, the ids of those not yet completed, in
	// order. Tasks that wait for nothing are not in the map.
	BlockedBy(ctx context.Context, ids []int64) (map[int64][]int64, error)
}

// TaskRef names a task at the other end of a dependency.
type TaskRef struct {
	ID     int64
	Status Status
}

// Dependencies is what Dependencies returns.
type Dependencies struct {
	After      []TaskRef // the tasks this one runs after
	Dependants []TaskRef // the tasks that run after this one
}

// DependencyNotFoundError says a task was to run after a task that did not
// exist when it was submitted. It matches ErrNotFound.
type DependencyNotFoundError struct{ ID int64 }

func (e *DependencyNotFoundError) Error() string {
	return fmt.Sprintf("dependency %d not found: no task with that id", e.ID)
}

// Unwrap lets errors.Is(err, ErrNotFound) match.
func (e *DependencyNotFoundError) Unwrap() error { return ErrNotFound }

// DependencyFailedError refuses to retry a task whose dependency failed or
// was cancelled: it would wait for ever. The dependency is retried first.
type DependencyFailedError struct {
	ID, Dependency int64
	Status         Status
}

func (e *DependencyFailedError) Error() string {
	return fmt.Sprintf("task %d runs after task %d, which is %s: retry %d first",
		e.ID, e.Dependency, e.Status, e.Dependency)
}

// dependencyError is the error (and cancel reason) of a task cancelled
// because its dependency dep ended in status st.
func dependencyError(dep int64, st Status) string {
	return fmt.Sprintf("dependency %d %s", dep, st)
}

// depPlan is what a submit writes for the dependencies of its tasks.
type depPlan struct {
	task, dep []int64 // the edges, task runs after dep
	blocked   []int64 // new tasks that wait for a dependency
	cancelled []int64 // new tasks cancelled at once: a dependency failed or was cancelled
	reasons   []string
}

// hasDependencies reports whether any task of a batch names a dependency.
func hasDependencies(ts []NewTask) bool {
	for _, t := range ts {
		if len(t.After) > 0 || len(t.AfterIndex) > 0 {
			return true
		}
	}
	return false
}

// planDependencies works out the edges and the state of every new task of
// a batch that has dependencies, once the batch's rows are inserted (out
// holds their ids). statuses reads (on PostgreSQL, and locks) the tasks of
// the ids it is given; those missing are not in its map.
//
// Ids given in After must name tasks that existed before the batch: a
// dependency on a task of the same batch goes by AfterIndex, an earlier
// line only. So edges point backwards and never form a cycle, and a task
// cannot depend on itself. Lines are settled in order, so a line cancelled
// because its dependency failed cancels the later lines that depend on it.
func planDependencies(ts []NewTask, out []SubmitResult, statuses func([]int64) (map[int64]Status, error)) (depPlan, error) {
	var p depPlan
	made := map[int64]bool{} // ids this batch created
	for _, r := range out {
		if !r.Existed {
			made[r.ID] = true
		}
	}
	deps := make([][]int64, len(ts))
	var all []int64
	for i, t := range ts {
		if out[i].Existed {
			continue // nothing is written for a key that matched
		}
		for _, id := range t.After {
			if made[id] {
				return p, &BatchError{Index: i, Err: &DependencyNotFoundError{ID: id}}
			}
			deps[i] = append(deps[i], id)
		}
		for _, j := range t.AfterIndex {
			if j < 0 || j >= i {
				return p, &BatchError{Index: i, Err: fmt.Errorf("after: task %d of the batch is not an earlier one", j+1)}
			}
			deps[i] = append(deps[i], out[j].ID)
		}
		slices.Sort(deps[i])
		deps[i] = slices.Compact(deps[i])
		all = append(all, deps[i]...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) == 0 {
		return p, nil
	}
	st, err := statuses(all)
	if err != nil {
		return p, err
	}
	for i := range ts {
		if len(deps[i]) == 0 {
			continue
		}
		id := out[i].ID
		blocked, reason := false, ""
		for _, d := range deps[i] {
			s, ok := st[d]
			if !ok {
				return p, &BatchError{Index: i, Err: &DependencyNotFoundError{ID: d}}
			}
			p.task, p.dep = append(p.task, id), append(p.dep, d)
			switch {
			case s == StatusFailed || s == StatusCancelled:
				if reason == "" {
					reason = dependencyError(d, s)
				}
			case s != StatusCompleted:
				blocked = true
			}
		}
		switch {
		case reason != "":
			p.cancelled, p.reasons = append(p.cancelled, id), append(p.reasons, reason)
			st[id] = StatusCancelled
		case blocked:
			p.blocked = append(p.blocked, id)
		}
	}
	return p, nil
}

// settled sorts the outcomes Finish stored (those not in lost) into tasks
// that completed and tasks that failed or were cancelled, whose dependants
// are then made ready or cancelled.
func settled(outs []Outcome, lost []int64) (completed, gone []int64) {
	for _, o := range outs {
		if slices.Contains(lost, o.ID) {
			continue
		}
		switch o.Status {
		case StatusCompleted:
			completed = append(completed, o.ID)
		case StatusFailed, StatusCancelled:
			gone = append(gone, o.ID)
		}
	}
	return completed, gone
}
