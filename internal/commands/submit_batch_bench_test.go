package commands

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db/pgtest"
)

// writeBatchFile writes n lines of a realistic batch to a file in dir:
// mostly exec tasks, some with idempotency keys and a priority, some agent
// tasks with a prompt and a model, and every 100th line after the line
// before it.
func writeBatchFile(b *testing.B, dir string, n int) string {
	b.Helper()
	var buf bytes.Buffer
	for i := 1; i <= n; i++ {
		after := ""
		if i%100 == 0 {
			after = fmt.Sprintf(`,"after":"#%d"`, i-1)
		}
		switch r := i % 10; {
		case r < 6:
			fmt.Fprintf(&buf, `{"type":"exec","input":{"command":["echo","%d"]},"name":"job-%d","queue":"q"%s}`+"\n", i, i, after)
		case r < 8:
			fmt.Fprintf(&buf, `{"type":"exec","input":{"command":["sh","-c","echo %d"]},"name":"keyed-%d","queue":"q","key":"k-%d","priority":5%s}`+"\n", i, i, i, after)
		default:
			fmt.Fprintf(&buf, `{"type":"agent","input":{"prompt":"Summarise the log file number %d and list errors","model":"gpt-4o-mini"},"name":"agent-%d","queue":"agents","max_attempts":3%s}`+"\n", i, i, after)
		}
	}
	path := filepath.Join(dir, "batch.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// runBatchCommand runs `opsctl submit --batch path` (ids to stdout, which
// is discarded) against database target, as Main does.
func runBatchCommand(b *testing.B, target, path string, args ...string) {
	b.Helper()
	var errOut bytes.Buffer
	env := map[string]string{"OPSCTL_DB": target, "XDG_CONFIG_HOME": b.TempDir()}
	f := &Factory{
		IO:     &IOStreams{In: &bytes.Buffer{}, Out: io.Discard, ErrOut: &errOut},
		Getenv: func(k string) string { return env[k] },
		Now:    time.Now,
	}
	f.Registry = newRegistry(f)
	if code := Run(context.Background(), f, append([]string{"submit", "--batch", path}, args...)); code != 0 {
		b.Fatalf("exit %d: %s", code, errOut.String())
	}
}

// BenchmarkSubmitBatchCommand is `opsctl submit --batch` of 100k lines on
// a new SQLite database, from reading the file to the last id printed:
// the whole command but the process start. Profile it with
//
//	go test ./internal/commands -run '^$' -bench SubmitBatchCommand -benchtime 3x -cpuprofile /tmp/cpu.out
func BenchmarkSubmitBatchCommand(b *testing.B) {
	dir := b.TempDir()
	path := writeBatchFile(b, dir, 100_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runBatchCommand(b, filepath.Join(dir, fmt.Sprintf("b%d.db", i)), path)
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkSubmitBatchCommandPostgres is the same on a throwaway
// PostgreSQL server, a new database per run.
func BenchmarkSubmitBatchCommandPostgres(b *testing.B) {
	dir := b.TempDir()
	path := writeBatchFile(b, dir, 100_000)
	srv, skip, err := pgtest.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Stop) // after the databases are dropped
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		url := srv.NewDatabaseOrSkip(b, skip)
		b.StartTimer()
		runBatchCommand(b, url, path)
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "tasks/s")
}
