package db_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// listTasks sizes BenchmarkList1M's file. The default keeps
// `go test -bench . -benchtime 1x -short` quick; the real measurement is
// at a million tasks (-list.file keeps the file for the next run):
//
//	go test -run '^$' -bench BenchmarkList1M -list.tasks=1000000 -benchtime 50x ./internal/db/
var (
	listTasks = flag.Int("list.tasks", 20_000, "tasks in the SQLite file BenchmarkList1M reads")
	listFile  = flag.String("list.file", "", "BenchmarkList1M: build the file here, or reuse it (migrated) if it is there")
)

// listQueue draws a queue for a fixture task: a few busy queues and a long
// tail, the way queues are used (q0 takes 40% of the tasks, q8 2%), and
// q9, a queue no longer used, only among the oldest 5% of the tasks.
func listQueue(rng *rand.Rand, i, n int) string {
	if i < n/20 && rng.IntN(10) == 0 {
		return "q9"
	}
	r := rng.IntN(100)
	for q, upTo := range []int{40, 60, 72, 80, 86, 91, 95, 98} {
		if r < upTo {
			return fmt.Sprintf("q%d", q)
		}
	}
	return "q8"
}

// buildListFixture fills s with n tasks through the store API, as a file
// in use for a while looks: the oldest 90% finished (about 90% of them
// completed, 7% failed, 3% cancelled), then 1% running, the newest pending.
// Queues are skewed (see listQueue); a tenth of the tasks are agent tasks,
// the rest exec.
func buildListFixture(b *testing.B, s db.Store, n int) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for done := 0; done < n; {
		k := min(n-done, 100_000)
		ts := make([]db.NewTask, k)
		for i := range ts {
			typ := "exec"
			if rng.IntN(10) == 0 {
				typ = "agent"
			}
			ts[i] = db.NewTask{Type: typ, Queue: listQueue(rng, done+i, n),
				Name: fmt.Sprintf("nightly report %d", done+i), Input: json.RawMessage(`{}`)}
		}
		if _, err := s.SubmitBatch(ctx, ts); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	claim := func(limit int) []db.Task {
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "bench", Limit: limit, Lease: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		return got
	}
	for left := n * 9 / 10; left > 0; {
		got := claim(min(left, 2000))
		outs := make([]db.Outcome, len(got))
		for i, t := range got {
			outs[i] = db.Outcome{ID: t.ID, Worker: "bench", Attempt: t.Attempts, Status: db.StatusCompleted, Result: json.RawMessage(`{}`)}
			switch r := rng.IntN(100); {
			case r < 7:
				outs[i].Status, outs[i].Error = db.StatusFailed, "exit status 1"
			case r < 10:
				outs[i].Status, outs[i].Error = db.StatusCancelled, "cancelled"
			}
		}
		if _, err := s.Finish(ctx, nil, outs); err != nil {
			b.Fatal(err)
		}
		left -= len(got)
	}
	claim(n / 100)
}

// listCases are the filters BenchmarkList1M reads with: none, each of
// status, queue and type, and pairs of them.
func listCases() []struct {
	name string
	f    db.Filter
} {
	st := func(ss ...db.Status) []db.Status { return ss }
	return []struct {
		name string
		f    db.Filter
	}{
		{"all", db.Filter{}},
		{"status=failed", db.Filter{Statuses: st(db.StatusFailed)}},
		{"status=cancelled", db.Filter{Statuses: st(db.StatusCancelled)}},
		{"status=pending", db.Filter{Statuses: st(db.StatusPending)}},
		{"status=running", db.Filter{Statuses: st(db.StatusRunning)}},
		{"status=completed", db.Filter{Statuses: st(db.StatusCompleted)}},
		{"status=failed,cancelled", db.Filter{Statuses: st(db.StatusFailed, db.StatusCancelled)}},
		{"status=running,failed", db.Filter{Statuses: st(db.StatusRunning, db.StatusFailed)}},
		{"queue=q3", db.Filter{Queues: []string{"q3"}}},
		{"queue=q9", db.Filter{Queues: []string{"q9"}}},
		{"queue=q3,q7", db.Filter{Queues: []string{"q3", "q7"}}},
		{"queue=q8,q9", db.Filter{Queues: []string{"q8", "q9"}}},
		{"type=agent", db.Filter{Types: []string{"agent"}}},
		{"type=exec", db.Filter{Types: []string{"exec"}}},
		{"status=failed+queue=q3", db.Filter{Statuses: st(db.StatusFailed), Queues: []string{"q3"}}},
		{"status=cancelled+queue=q3", db.Filter{Statuses: st(db.StatusCancelled), Queues: []string{"q3"}}},
		{"status=pending+queue=q3", db.Filter{Statuses: st(db.StatusPending), Queues: []string{"q3"}}},
		{"status=completed+queue=q3", db.Filter{Statuses: st(db.StatusCompleted), Queues: []string{"q3"}}},
		{"status=completed+queue=q9", db.Filter{Statuses: st(db.StatusCompleted), Queues: []string{"q9"}}},
		{"status=pending+queue=q9", db.Filter{Statuses: st(db.StatusPending), Queues: []string{"q9"}}},
		{"status=completed,failed+queue=q9", db.Filter{Statuses: st(db.StatusCompleted, db.StatusFailed), Queues: []string{"q9"}}},
		{"status=completed,failed+queue=q0", db.Filter{Statuses: st(db.StatusCompleted, db.StatusFailed), Queues: []string{"q0"}}},
		{"status=cancelled+type=agent", db.Filter{Statuses: st(db.StatusCancelled), Types: []string{"agent"}}},
		{"status=running+type=agent", db.Filter{Statuses: st(db.StatusRunning), Types: []string{"agent"}}},
		{"status=failed,cancelled+type=agent", db.Filter{Statuses: st(db.StatusFailed, db.StatusCancelled), Types: []string{"agent"}}},
		{"status=completed+type=agent", db.Filter{Statuses: st(db.StatusCompleted), Types: []string{"agent"}}},
		{"queue=q3+type=agent", db.Filter{Queues: []string{"q3"}, Types: []string{"agent"}}},
		{"queue=q9+type=agent", db.Filter{Queues: []string{"q9"}, Types: []string{"agent"}}},
		{"queue=q9+type=exec", db.Filter{Queues: []string{"q9"}, Types: []string{"exec"}}},
		{"queue=q3,q7+type=agent", db.Filter{Queues: []string{"q3", "q7"}, Types: []string{"agent"}}},
		{"queue=q0,q1+type=exec", db.Filter{Queues: []string{"q0", "q1"}, Types: []string{"exec"}}},
		{"queue=q3+type=agent,exec", db.Filter{Queues: []string{"q3"}, Types: []string{"agent", "exec"}}},
		{"search=report 12", db.Filter{Search: "report 12"}},
	}
}

// BenchmarkList1M reads the first page of 50 tasks (newest first), the
// next page (BeforeID), and a capped count (CountMatching, cap 10,000) of
// a file of -list.tasks tasks, with each filter of listCases, and Stats
// over the whole file. Besides the mean it reports the median of the
// calls (p50-ms), which is the figure to quote. The file is built once
// per run of the benchmark, through the store (about 80 s for a million
// tasks); -list.file keeps it for the next run.
func BenchmarkList1M(b *testing.B) {
	n := *listTasks
	path := *listFile
	if path == "" {
		path = filepath.Join(b.TempDir(), "list.db")
	}
	_, err := os.Stat(path)
	reuse := err == nil
	s := dbtest.Open(b, db.Options{Path: path, AutoMigrate: true})
	if reuse {
		total, err := s.Count(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		n = int(total)
		b.Logf("reusing %s: %d tasks", path, n)
	} else {
		start := time.Now()
		buildListFixture(b, s, n)
		b.Logf("built %d tasks in %s", n, time.Since(start).Round(time.Millisecond))
	}
	ctx := context.Background()
	for _, c := range listCases() {
		first := c.f
		first.Limit = 50
		page1, err := s.List(ctx, first)
		if err != nil {
			b.Fatal(err)
		}
		if len(page1) < 50 {
			b.Logf("%s: %d tasks on the first page", c.name, len(page1))
		}
		next := first
		if len(page1) > 0 {
			next.BeforeID = page1[len(page1)-1].ID
		}
		for _, run := range []struct {
			name string
			fn   func() error
		}{
			{"page1", func() error { _, err := s.List(ctx, first); return err }},
			{"page2", func() error { _, err := s.List(ctx, next); return err }},
			{"count", func() error { _, _, err := s.CountMatching(ctx, c.f, 10_000); return err }},
		} {
			b.Run(run.name+"/"+strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) {
				var took []time.Duration
				for b.Loop() {
					t0 := time.Now()
					if err := run.fn(); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(t0))
				}
				reportMedian(b, took)
			})
		}
	}
	// Stats over a window that holds every finished task of the file (it
	// was built minutes ago): the worst case, 90% of the table.
	b.Run("stats/24h-by-1h", func(b *testing.B) {
		var took []time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := s.Stats(ctx, time.Now().Add(-24*time.Hour), time.Hour); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
		}
		reportMedian(b, took)
	})
}

// reportMedian reports the median of took in milliseconds (p50-ms).
func reportMedian(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "p50-ms")
}
