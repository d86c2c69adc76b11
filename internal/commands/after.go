package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// Task dependencies (`submit --after`): the flag, the batch field's "#N"
// line references, and what list and show print about them.

// parseAfterFlag reads --after ID[,ID...] (repeatable).
func parseAfterFlag(vals []string) ([]int64, error) {
	var ids []int64
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id < 1 || strings.TrimLeft(s, "0123456789") != "" {
				if strings.HasPrefix(s, "#") {
					return nil, usageErrorf(`--after %q: "#N" names a batch line, in a batch file's "after"; give task ids`, v)
				}
				return nil, usageErrorf("--after %q: want task ids (positive integers), separated by commas", v)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// dependencyError unwraps the store's batch error around a dependency that
// does not exist, for a single submit: "dependency 9 not found: ...", not
// "task 1: dependency 9 not found: ...". It keeps exit code 3.
func dependencyError(err error) error {
	var nf *db.DependencyNotFoundError
	if errors.As(err, &nf) {
		return nf
	}
	return err
}

// resolveBatchRefs turns the "#N" references of a batch's lines (refs[i],
// line numbers) into indexes of earlier tasks (AfterIndex), given the line
// number of each task. A reference to the line itself, a later line or a
// line without a task is refused.
func resolveBatchRefs(ts []db.NewTask, refs [][]int, lines []int) error {
	index := make(map[int]int, len(lines)) // line number -> task index
	for i, n := range lines {
		index[n] = i
	}
	for i, rs := range refs {
		for _, n := range rs {
			j, ok := index[n]
			switch {
			case n >= lines[i]:
				return usageErrorf(`batch line %d: "after": "#%d" is not an earlier line`, lines[i], n)
			case !ok:
				return usageErrorf(`batch line %d: "after": line %d holds no task`, lines[i], n)
			}
			ts[i].AfterIndex = append(ts[i].AfterIndex, j)
		}
	}
	return nil
}

// chunkDependencies prepares ts[from:to] for one SubmitBatch: a reference
// to a task of an earlier, committed transaction becomes its id (ids holds
// the ids of ts[:from]); one within the chunk an index into it.
func chunkDependencies(ts []db.NewTask, from, to int, ids []int64) []db.NewTask {
	chunk := make([]db.NewTask, to-from)
	copy(chunk, ts[from:to])
	for i := range chunk {
		if len(chunk[i].AfterIndex) == 0 {
			continue
		}
		after, idx := append([]int64(nil), chunk[i].After...), []int(nil)
		for _, j := range chunk[i].AfterIndex {
			if j < from {
				after = append(after, ids[j])
			} else {
				idx = append(idx, j-from)
			}
		}
		chunk[i].After, chunk[i].AfterIndex = after, idx
	}
	return chunk
}

// blockedBy reads which of the pending tasks of ts wait for dependencies.
func blockedBy(ctx context.Context, s db.Store, ts []db.Task) (map[int64][]int64, error) {
	var ids []int64
	for _, t := range ts {
		if t.Status == db.StatusPending {
			ids = append(ids, t.ID)
		}
	}
	if len(ids) == 0 {
		return map[int64][]int64{}, nil
	}
	return s.BlockedBy(ctx, ids)
}

// afterText is "after 41, 42" for the dependencies a task waits for.
func afterText(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return "after " + strings.Join(parts, ", ")
}

// listTaskJSON is a task of `list -o json|jsonl`: the task's fields and
// blocked_by, the dependencies a pending task still waits for ([] when
// none).
type listTaskJSON struct {
	taskio.TaskJSON
	BlockedBy []int64 `json:"blocked_by"`
}

func listTasksJSON(ts []db.Task, blocked map[int64][]int64) []listTaskJSON {
	out := make([]listTaskJSON, len(ts))
	for i, t := range ts {
		out[i] = listTaskJSON{TaskJSON: taskio.NewTaskJSON(t), BlockedBy: nonNilIDs(blocked[t.ID])}
	}
	return out
}

// showTaskJSON is `show -o json`: the task's fields, the ids of the tasks
// it runs after and of those that run after it, and blocked_by as in list.
type showTaskJSON struct {
	taskio.TaskJSON
	After      []int64 `json:"after"`
	Dependants []int64 `json:"dependants"`
	BlockedBy  []int64 `json:"blocked_by"`
}

func newShowTaskJSON(t db.Task, d db.Dependencies, blocked []int64) showTaskJSON {
	j := showTaskJSON{TaskJSON: taskio.NewTaskJSON(t), After: []int64{}, Dependants: []int64{}, BlockedBy: nonNilIDs(blocked)}
	for _, r := range d.After {
		j.After = append(j.After, r.ID)
	}
	for _, r := range d.Dependants {
		j.Dependants = append(j.Dependants, r.ID)
	}
	return j
}

// taskDependencies reads what show prints about a task's dependencies.
func taskDependencies(ctx context.Context, s db.Store, t db.Task) (db.Dependencies, []int64, error) {
	d, err := s.Dependencies(ctx, t.ID)
	if err != nil {
		return d, nil, err
	}
	if len(d.After) == 0 || t.Status != db.StatusPending {
		return d, nil, nil
	}
	blocked, err := s.BlockedBy(ctx, []int64{t.ID})
	return d, blocked[t.ID], err
}

// printDependencies adds show's lines about dependencies.
func printDependencies(p *showPrinter, d db.Dependencies, blocked []int64) {
	if len(d.After) > 0 {
		p.wrapped("After", refsText(d.After))
	}
	if len(blocked) > 0 {
		p.field("Waits for", afterText(blocked)[len("after "):])
	}
	if len(d.Dependants) > 0 {
		p.wrapped("Dependants", refsText(d.Dependants))
	}
}

// refsText is "41 (completed), 42 (running)".
func refsText(rs []db.TaskRef) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d (%s)", r.ID, r.Status)
	}
	return strings.Join(parts, ", ")
}

func nonNilIDs(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}
