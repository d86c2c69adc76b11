package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// BenchmarkPruneManyEvents prunes finished tasks of 2,000 events each, the
// shape of the report where one transaction for 3,000 such tasks held the
// write lock 7.9s. OPSCTL_BENCH_ROWS is the number of events in all
// (default 100,000: 50 tasks); one op is one whole prune. Meanwhile a
// second store on the same file, as another process would, submits a task
// every few milliseconds.
//
// Besides ns/op it reports the largest number of rows one write
// transaction deleted (max-rows/tx), how many transactions the prune took
// (tx/op), the longest any of them held the write lock (max-hold-ms) and
// the longest the other store's submit waited (max-submit-ms).
func BenchmarkPruneManyEvents(b *testing.B) {
	for _, perTask := range []int{2_000, 0} {
		b.Run(fmt.Sprintf("events=%d", perTask), func(b *testing.B) { benchPrune(b, perTask) })
	}
}

func benchPrune(b *testing.B, perTask int) {
	rows := benchSize(b, "OPSCTL_BENCH_ROWS", 100_000)
	tasks := max(1, rows/(perTask+1))
	path := filepath.Join(b.TempDir(), "prune.db")
	s := dbtest.Open(b, db.Options{Path: path})
	other := dbtest.Open(b, db.Options{Path: path})
	ctx := context.Background()
	var maxRows, txs int64
	var maxHold, maxSubmit time.Duration
	for range b.N {
		b.StopTimer()
		prunable(b, s, tasks, perTask)
		b.StartTimer()

		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				start := time.Now()
				if _, err := other.Submit(ctx, db.NewTask{Type: "bench", Input: json.RawMessage(`{}`)}); err != nil {
					b.Error(err)
					return
				}
				maxSubmit = max(maxSubmit, time.Since(start))
			}
		})
		hook := db.PruneHook{AfterTx: func(rows int64, held time.Duration) {
			maxRows = max(maxRows, rows)
			maxHold = max(maxHold, held)
			txs++
		}}
		n, err := s.Prune(db.WithPruneHook(ctx, hook), db.PruneFilter{FinishedBefore: time.Now().Add(time.Hour)}, false)
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if n != int64(tasks) {
			b.Fatalf("pruned %d tasks, want %d", n, tasks)
		}
	}
	b.ReportMetric(float64(maxRows), "max-rows/tx")
	b.ReportMetric(float64(txs)/float64(b.N), "tx/op")
	b.ReportMetric(float64(maxHold.Microseconds())/1000, "max-hold-ms")
	b.ReportMetric(float64(maxSubmit.Microseconds())/1000, "max-submit-ms")
}
