package commands_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The schedule process tests run on both backends: real runner processes
// on one database.
func eachProcBackend(t *testing.T, fn func(t *testing.T, p *procEnv)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, newProcEnv(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, newPGProcEnv(t))
	})
}

// scheduledTask is the subset of a task's JSON these tests read.
type scheduledTask struct {
	ID         int64      `json:"id"`
	Key        string     `json:"key"`
	Status     string     `json:"status"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

func (p *procEnv) scheduledTasks() []scheduledTask {
	p.t.Helper()
	var ts []scheduledTask
	require.NoError(p.t, json.Unmarshal([]byte(p.ok("list", "--all", "-o", "json")), &ts))
	return ts
}

// stopRunners ends runners with SIGTERM and requires a clean exit.
func stopRunners(t *testing.T, rs []*exec.Cmd, logs []*syncBuffer) {
	t.Helper()
	for _, r := range rs {
		require.NoError(t, r.Process.Signal(syscall.SIGTERM))
	}
	for i, r := range rs {
		require.Equal(t, 0, waitExit(t, r, 30*time.Second), logs[i].String())
		require.NotContains(t, logs[i].String(), "locked")
	}
}

// Three runner processes and a 1 s schedule for several seconds: each
// slot becomes one task, never two, and the slots follow each other.
func TestScheduleSlotOnceAcrossRunners(t *testing.T) {
	t.Parallel()
	eachProcBackend(t, func(t *testing.T, p *procEnv) {
		p.ok("schedule", "add", "tick", "--every", "1s", "--", "true")
		var rs []*exec.Cmd
		var logs []*syncBuffer
		for range 3 {
			r, log := p.startRunner("--workers", "2", "--lease", "5s")
			rs, logs = append(rs, r), append(logs, log)
		}
		eventually(t, 30*time.Second, "six slots enqueued", func() bool { return len(p.scheduledTasks()) >= 6 })
		stopRunners(t, rs, logs)

		ts := p.scheduledTasks()
		slots := map[time.Time]bool{}
		for _, tk := range ts {
			s, ok := strings.CutPrefix(tk.Key, "schedule:tick:")
			require.True(t, ok, tk.Key)
			slot, err := time.Parse(time.RFC3339, s)
			require.NoError(t, err, tk.Key)
			require.False(t, slots[slot], "slot %s enqueued twice", s)
			slots[slot] = true
		}
		// Which runner enqueued each slot: every line of the logs names
		// one task, and no task is named twice.
		enqueued := map[string]int{}
		for _, l := range logs {
			for _, line := range strings.Split(l.String(), "\n") {
				if strings.Contains(line, "schedule tick: task ") {
					enqueued[strings.Fields(line)[4]]++
				}
			}
		}
		require.Len(t, enqueued, len(ts), "each task is enqueued once, by one runner")
		for id, n := range enqueued {
			require.Equal(t, 1, n, "task %s", id)
		}
		// With runners up throughout, slots are seldom missed; a missed
		// one (a runner held off the CPU for over a second) is dropped,
		// never made up later.
		var missed int
		first, last := time.Time{}, time.Time{}
		for s := range slots {
			if first.IsZero() || s.Before(first) {
				first = s
			}
			if s.After(last) {
				last = s
			}
		}
		missed = int(last.Sub(first)/time.Second) + 1 - len(slots)
		t.Logf("%d slots from %s to %s, %d missed", len(slots), first.Format(time.TimeOnly), last.Format(time.TimeOnly), missed)
		require.LessOrEqual(t, missed, len(slots)/2, "%s", logs[0])
	})
}

// A paused schedule enqueues nothing while runners run; resumed, it does.
func TestSchedulePausedEnqueuesNothing(t *testing.T) {
	t.Parallel()
	eachProcBackend(t, func(t *testing.T, p *procEnv) {
		p.ok("schedule", "add", "tick", "--every", "1s", "--", "true")
		p.ok("schedule", "pause", "tick")
		r1, log1 := p.startRunner("--workers", "1")
		r2, log2 := p.startRunner("--workers", "1")
		// Runners ask for schedules every second: three seconds is three
		// chances each to enqueue a slot they must not.
		time.Sleep(3 * time.Second)
		require.Empty(t, p.scheduledTasks())

		p.ok("schedule", "resume", "tick")
		eventually(t, 30*time.Second, "a task after resume", func() bool { return len(p.scheduledTasks()) > 0 })
		p.ok("schedule", "pause", "tick")
		n := len(p.scheduledTasks())
		time.Sleep(2500 * time.Millisecond)
		require.Len(t, p.scheduledTasks(), n, "nothing enqueued once paused again")
		stopRunners(t, []*exec.Cmd{r1, r2}, []*syncBuffer{log1, log2})
	})
}

// --skip-if-running: while an occurrence is pending or running, the slots
// that come are skipped and counted, not enqueued.
func TestScheduleSkipIfRunning(t *testing.T) {
	t.Parallel()
	eachProcBackend(t, func(t *testing.T, p *procEnv) {
		p.ok("schedule", "add", "slow", "--every", "1s", "--skip-if-running", "--", "sleep", "4")
		r, log := p.startRunner("--workers", "4")
		eventually(t, 30*time.Second, "a second occurrence started after the first finished", func() bool {
			ts := p.scheduledTasks()
			return len(ts) >= 2 && ts[len(ts)-2].StartedAt != nil
		})
		stopRunners(t, []*exec.Cmd{r}, []*syncBuffer{log})

		ts := p.scheduledTasks() // newest first
		require.GreaterOrEqual(t, len(ts), 2)
		first, second := ts[len(ts)-1], ts[len(ts)-2]
		require.Equal(t, "completed", first.Status)
		require.NotNil(t, first.FinishedAt)
		require.NotNil(t, second.StartedAt)
		require.False(t, second.StartedAt.Before(*first.FinishedAt), "the second started after the first finished")

		var sc struct {
			Skipped    int64  `json:"skipped"`
			LastTaskID *int64 `json:"last_task_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(p.ok("schedule", "show", "slow", "-o", "json")), &sc))
		require.GreaterOrEqual(t, sc.Skipped, int64(2), "a 4 s task skips at least two 1 s slots")
		require.Contains(t, log.String(), "schedule slow: slot ")
		require.Contains(t, log.String(), "skipped, task ")
	})
}
