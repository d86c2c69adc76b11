package commands_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// queueProcEnvs runs fn on a SQLite file and on a PostgreSQL database, as
// parallel subtests.
func queueProcEnvs(t *testing.T, fn func(t *testing.T, p *procEnv)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, newProcEnv(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, newPGProcEnv(t))
	})
}

// writeQueueConfig writes the config file every opsctl process of p reads.
func writeQueueConfig(t *testing.T, p *procEnv, body string) {
	t.Helper()
	dir := filepath.Join(p.dir, "config", "opsctl")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(body), 0o600))
}

// A queue limited to 1 never runs two tasks at once, with two runner
// processes of four workers each claiming from it: each task writes the
// time it started and ended (nanoseconds, taken inside the task), and
// sorted by start, every task starts after the one before it ended. The
// other queue's tasks run meanwhile, several at once.
func TestQueueConcurrencyAcrossRunnerProcesses(t *testing.T) {
	t.Parallel()
	queueProcEnvs(t, func(t *testing.T, p *procEnv) {
		writeQueueConfig(t, p, "queues:\n  deploy: {concurrency: 1}\n")
		const deploys, others = 12, 24
		log := filepath.Join(p.dir, "times")
		var batch strings.Builder
		for i := range deploys {
			fmt.Fprintf(&batch, `{"type":"exec","queue":"deploy","input":{"shell":"echo start $(date +%%s%%N) %d >> %s; sleep 0.1; echo end $(date +%%s%%N) %d >> %s"}}`+"\n",
				i, log, i, log)
		}
		for range others {
			batch.WriteString(`{"type":"exec","queue":"other","input":{"shell":"sleep 0.2"}}` + "\n")
		}
		require.NoError(t, os.WriteFile(filepath.Join(p.dir, "batch.jsonl"), []byte(batch.String()), 0o600))
		p.ok("submit", "-q", "--batch", "batch.jsonl")

		r1, out1 := p.startRunner("--workers", "4")
		r2, out2 := p.startRunner("--workers", "4")
		eventually(t, 2*time.Minute, "every task completed", func() bool {
			return strings.Count(p.ok("list", "--all", "--status", "completed", "-q"), "\n") == deploys+others
		})
		require.NoError(t, r1.Process.Signal(os.Interrupt))
		require.NoError(t, r2.Process.Signal(os.Interrupt))
		require.Equal(t, 0, waitExit(t, r1, time.Minute), out1.String())
		require.Equal(t, 0, waitExit(t, r2, time.Minute), out2.String())

		type span struct{ start, end int64 }
		spans := map[string]*span{}
		b, err := os.ReadFile(log)
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			require.Len(t, f, 3, line)
			ns, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err, line)
			if spans[f[2]] == nil {
				spans[f[2]] = &span{}
			}
			if f[0] == "start" {
				spans[f[2]].start = ns
			} else {
				spans[f[2]].end = ns
			}
		}
		require.Len(t, spans, deploys)
		var sorted []span
		for _, s := range spans {
			require.NotZero(t, s.start)
			require.NotZero(t, s.end)
			sorted = append(sorted, *s)
		}
		slices.SortFunc(sorted, func(a, b span) int { return int(a.start - b.start) })
		for i := 1; i < len(sorted); i++ {
			require.Greater(t, sorted[i].start, sorted[i-1].end,
				"deploy task %d started %s before the one before it ended", i, time.Duration(sorted[i-1].end-sorted[i].start))
		}
		list := p.ok("queue", "list")
		require.Contains(t, list, "deploy\t0\t0\t0\t1\tno\n")
		require.Contains(t, list, "other\t0\t0\t0\t-\tno\n")
	})
}

// A pause reaches a runner that is already running, and so does the
// resume: with one worker, a paused queue's task submitted before another
// queue's stays pending while the other runs; after the resume the runner
// runs it, without a restart.
func TestQueuePauseReachesRunningRunner(t *testing.T) {
	t.Parallel()
	queueProcEnvs(t, func(t *testing.T, p *procEnv) {
		r, out := p.startRunner("--workers", "1")
		first := p.submit("--queue", "deploy", "--", "true")
		eventually(t, time.Minute, "the first deploy task completed", func() bool { return p.show(first).Status == "completed" })

		p.ok("queue", "pause", "deploy")
		held := p.submit("--queue", "deploy", "--", "true")
		other := p.submit("--", "true")
		eventually(t, time.Minute, "the default task completed", func() bool { return p.show(other).Status == "completed" })
		require.Equal(t, "pending", p.show(held).Status, "the paused queue's older task was not claimed")
		require.Contains(t, p.ok("queue", "list"), "deploy\t1\t0\t0\t-\tyes\n")

		p.ok("queue", "resume", "deploy")
		eventually(t, time.Minute, "the held task completed after the resume", func() bool { return p.show(held).Status == "completed" })
		require.NoError(t, r.Process.Signal(os.Interrupt))
		require.Equal(t, 0, waitExit(t, r, time.Minute), out.String())
	})
}
