package runner_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
	"github.com/opsctl/opsctl/internal/runner"
)

// benchNoop is a handler that returns at once, so a burn-down measures the
// runner and the store alone.
type benchNoop struct{}

func (benchNoop) Validate(json.RawMessage) error { return nil }

func (benchNoop) Run(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}

// BenchmarkBurnDown works OPSCTL_BENCH_TASKS (default 20,000) no-op tasks
// with one runner of 100 workers, as `opsctl bench` does in process; one op
// is one whole burn-down. Profile it with -cpuprofile to see where a task's
// overhead goes.
func BenchmarkBurnDown(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("OPSCTL_BENCH_TASKS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	ts := make([]db.NewTask, n)
	for i := range ts {
		ts[i] = db.NewTask{Type: "noop"}
	}
	total := 0
	for b.Loop() {
		b.StopTimer()
		s := dbtest.New(b)
		if _, err := s.SubmitBatch(ctx, ts); err != nil {
			b.Fatal(err)
		}
		done := 0
		r, err := runner.New(runner.Options{Store: s, Registry: runner.Registry{"noop": benchNoop{}},
			Workers: 100, Lease: 30 * time.Second, Once: true,
			OnFinish: func(db.Outcome) { done++ }})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := r.Run(ctx); err != nil {
			b.Fatal(err)
		}
		if done != n {
			b.Fatalf("finished %d of %d", done, n)
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "tasks/s")
}
