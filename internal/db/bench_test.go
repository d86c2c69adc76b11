package db_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// These benchmarks measure the store on a real file; docs/PERFORMANCE.md
// has the figures and the commands. Sizes can be overridden, so CI can run
// a short form:
//
//	OPSCTL_BENCH_ROWS=10000 OPSCTL_BENCH_BATCH=10000 \
//	  go test -run '^$' -bench . -benchtime 1x ./internal/db/
//
// OPSCTL_BENCH_ROWS is the size of the table BenchmarkList pages through
// (default 1,000,000); OPSCTL_BENCH_BATCH is the size of one SubmitBatch
// (default 100,000).

// benchSize reads a positive size from the environment, or returns def.
func benchSize(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// benchTasks returns n no-op tasks of the kind `opsctl bench` submits.
func benchTasks(n int) []db.NewTask {
	ts := make([]db.NewTask, n)
	for i := range ts {
		ts[i] = db.NewTask{Type: "bench", Input: json.RawMessage(`{}`)}
	}
	return ts
}

// fill stores n pending tasks in batches of at most 100,000.
func fill(b testing.TB, s db.Store, n int) {
	b.Helper()
	ctx := context.Background()
	for n > 0 {
		k := min(n, 100_000)
		if _, err := s.SubmitBatch(ctx, benchTasks(k)); err != nil {
			b.Fatal(err)
		}
		n -= k
	}
}

// perSecond reports a throughput metric for n items in the benchmark's
// elapsed time.
func perSecond(b *testing.B, n int, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

// BenchmarkSubmit stores one task per transaction, as `opsctl submit` does.
func BenchmarkSubmit(b *testing.B) {
	s := dbtest.New(b)
	ctx := context.Background()
	t := db.NewTask{Type: "bench", Name: "one", Input: json.RawMessage(`{"shell":"true"}`)}
	for b.Loop() {
		if _, err := s.Submit(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, b.N, "tasks/s")
}

// BenchmarkSubmitBatch stores OPSCTL_BENCH_BATCH tasks in one transaction,
// as `opsctl submit --batch` does; one op is one whole batch.
func BenchmarkSubmitBatch(b *testing.B) {
	n := benchSize(b, "OPSCTL_BENCH_BATCH", 100_000)
	s := dbtest.New(b)
	ctx := context.Background()
	ts := benchTasks(n)
	for b.Loop() {
		if _, err := s.SubmitBatch(ctx, ts); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, n*b.N, "tasks/s")
}

// BenchmarkClaimComplete claims pending tasks in batches of the given size
// and records their completion, one Claim and one Finish transaction per
// batch, as a runner does. One op is one task.
func BenchmarkClaimComplete(b *testing.B) {
	for _, batch := range []int{1, 16, 128, 512} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			s := dbtest.New(b)
			ctx := context.Background()
			fill(b, s, b.N)
			req := db.ClaimRequest{Worker: "bench", Types: []string{"bench"}, Lease: time.Minute}
			b.ResetTimer()
			for done := 0; done < b.N; {
				req.Limit = min(batch, b.N-done)
				ts, err := s.Claim(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(ts) == 0 {
					b.Fatalf("claimed nothing after %d of %d", done, b.N)
				}
				outs := make([]db.Outcome, len(ts))
				for i, t := range ts {
					outs[i] = db.Outcome{ID: t.ID, Worker: "bench", Attempt: t.Attempts, Status: db.StatusCompleted, Result: json.RawMessage(`{}`)}
				}
				if _, err := s.Finish(ctx, nil, outs); err != nil {
					b.Fatal(err)
				}
				done += len(ts)
			}
			perSecond(b, b.N, "tasks/s")
		})
	}
}

// BenchmarkList reads the first page (50 tasks, newest first) of a table of
// OPSCTL_BENCH_ROWS tasks, as `opsctl list` does, with and without filters.
// The table is built once: 90% completed, 5% failed, 5% pending, which is
// what a file that has been in use for a while looks like.
func BenchmarkList(b *testing.B) {
	rows := benchSize(b, "OPSCTL_BENCH_ROWS", 1_000_000)
	path := filepath.Join(b.TempDir(), "list.db")
	s := dbtest.Open(b, db.Options{Path: path})
	start := time.Now()
	fill(b, s, rows)
	markHistory(b, path)
	b.Logf("built %d tasks in %s", rows, time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	since := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		name  string
		f     db.Filter
		empty bool
	}{
		{name: "all", f: db.Filter{}},
		{name: "status=failed", f: db.Filter{Statuses: []db.Status{db.StatusFailed}}},
		{name: "status=pending", f: db.Filter{Statuses: []db.Status{db.StatusPending}}},
		{name: "status=failed,cancelled", f: db.Filter{Statuses: []db.Status{db.StatusFailed, db.StatusCancelled}}},
		{name: "status=completed,failed", f: db.Filter{Statuses: []db.Status{db.StatusCompleted, db.StatusFailed}}},
		{name: "queue=default", f: db.Filter{Queues: []string{"default"}}},
		{name: "since=1h", f: db.Filter{Since: since}},
		// Nothing matches: the worst case, a scan of the whole table.
		{name: "type=none", f: db.Filter{Types: []string{"none"}}, empty: true},
	} {
		c.f.Limit = 50
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				ts, err := s.List(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(ts) == 0 != c.empty {
					b.Fatalf("%d tasks", len(ts))
				}
			}
		})
	}
}

// markHistory finishes most of the tasks in the file directly, so that
// building a large fixture does not take a full burn-down. Only this
// benchmark fixture writes SQL outside the store.
func markHistory(b testing.TB, path string) {
	b.Helper()
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	now := time.Now().UnixMilli()
	_, err = conn.Exec(`UPDATE tasks SET
		status = CASE WHEN id % 20 = 0 THEN 'failed' ELSE 'completed' END,
		error = CASE WHEN id % 20 = 0 THEN 'exit status 1' ELSE '' END,
		result = '{}', attempts = 1, started_at = ?, finished_at = ?
		WHERE id % 20 != 1`, now, now)
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReadyIdle is one idle poll of a runner: the read that finds no
// ready task, on a file with finished history. Its cost times the poll rate
// is an idle runner's CPU use.
func BenchmarkReadyIdle(b *testing.B) {
	s := dbtest.New(b)
	ctx := context.Background()
	fill(b, s, 1000)
	req := db.ClaimRequest{Worker: "bench", Types: []string{"bench"}, Limit: 1000, Lease: time.Minute}
	if _, err := s.Claim(ctx, req); err != nil {
		b.Fatal(err)
	}
	types := []string{"agent", "exec"}
	for b.Loop() {
		ready, err := s.Ready(ctx, nil, types)
		if err != nil || ready {
			b.Fatalf("ready %v, err %v", ready, err)
		}
	}
}

// TestSubmitBatchChunks checks what the multi-row inserts behind
// SubmitBatch must keep: ids in line order across chunk boundaries and
// around keyed tasks, a key repeated within the batch finding the earlier
// line's task, and all or nothing.
func TestSubmitBatchChunks(t *testing.T) {
	t.Parallel()
	s := dbtest.New(t)
	ctx := context.Background()
	first, err := s.Submit(ctx, db.NewTask{Type: "bench", Key: "old"})
	if err != nil {
		t.Fatal(err)
	}
	ts := benchTasks(700)
	for _, i := range []int{0, 255, 256, 300, 699} {
		ts[i].Key = "k" + strconv.Itoa(i)
	}
	ts[400].Key = "k300" // the same key as an earlier line
	ts[500].Key = "old"  // the key of a task stored before
	for i := range ts {
		ts[i].Name = strconv.Itoa(i)
	}
	rs, err := s.SubmitBatch(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	next := first.ID + 1
	for i, r := range rs {
		switch i {
		case 400:
			if !r.Existed || r.ID != rs[300].ID {
				t.Fatalf("line 400: %+v, want the task of line 300 (%d)", r, rs[300].ID)
			}
			continue
		case 500:
			if !r.Existed || r.ID != first.ID {
				t.Fatalf("line 500: %+v, want task %d", r, first.ID)
			}
			continue
		}
		if r.Existed || r.ID != next {
			t.Fatalf("line %d: %+v, want new task %d", i, r, next)
		}
		got, err := s.Get(ctx, r.ID)
		if err != nil || got.Name != strconv.Itoa(i) {
			t.Fatalf("line %d: task %d is %q (%v)", i, r.ID, got.Name, err)
		}
		next++
	}

	// A bad line anywhere fails the whole batch, naming the line.
	n, _ := s.Count(ctx)
	bad := benchTasks(300)
	bad[280].Input = json.RawMessage(`{`)
	conn, err := sql.Open("sqlite", "file:"+s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// No store-level check refuses the line, so make SQLite refuse it.
	if _, err := conn.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON tasks WHEN NEW.input = '{'
		BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	_, err = s.SubmitBatch(ctx, bad)
	var be *db.BatchError
	if !errors.As(err, &be) || be.Index != 280 {
		t.Fatalf("err = %v, want a BatchError for line 281", err)
	}
	if after, _ := s.Count(ctx); after != n {
		t.Fatalf("%d tasks after a failed batch, want %d", after, n)
	}
}

// TestPruneChunks checks that a prune larger than one chunk deletes every
// matching task, and only those.
func TestPruneChunks(t *testing.T) {
	t.Parallel()
	s := dbtest.New(t)
	ctx := context.Background()
	fill(t, s, 12_000)
	markHistory(t, s.Path()) // 95% finished, every 20th pending
	n, err := s.Prune(ctx, db.PruneFilter{FinishedBefore: time.Now().Add(time.Hour)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if n != 11_400 {
		t.Fatalf("pruned %d, want 11400", n)
	}
	left, err := s.Count(ctx)
	if err != nil || left != 600 {
		t.Fatalf("%d tasks left (%v), want the 600 pending", left, err)
	}
}

// BenchmarkClaimBehindScheduled claims ready tasks one at a time while
// OPSCTL_BENCH_ROWS tasks of a higher priority wait for a time far ahead
// (default 300,000, the case that made each claim step over all of them).
// One op is one claimed and finished task.
func BenchmarkClaimBehindScheduled(b *testing.B) {
	n := benchSize(b, "OPSCTL_BENCH_ROWS", 300_000)
	s := dbtest.New(b)
	ctx := context.Background()
	later := make([]db.NewTask, n)
	for i := range later {
		later[i] = db.NewTask{Type: "bench", Priority: 9, RunAfter: time.Now().Add(24 * time.Hour), Input: json.RawMessage(`{}`)}
	}
	for len(later) > 0 {
		k := min(len(later), 100_000)
		if _, err := s.SubmitBatch(ctx, later[:k]); err != nil {
			b.Fatal(err)
		}
		later = later[k:]
	}
	fill(b, s, b.N)
	req := db.ClaimRequest{Worker: "bench", Types: []string{"bench"}, Lease: time.Minute, Limit: 1}
	b.ResetTimer()
	for range b.N {
		ts, err := s.Claim(ctx, req)
		if err != nil || len(ts) != 1 {
			b.Fatalf("claim: %v (%d tasks)", err, len(ts))
		}
		out := db.Outcome{ID: ts[0].ID, Worker: "bench", Attempt: ts[0].Attempts, Status: db.StatusCompleted, Result: json.RawMessage(`{}`)}
		if _, err := s.Finish(ctx, nil, []db.Outcome{out}); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, b.N, "tasks/s")
}
