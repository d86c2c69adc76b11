package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// The task types bench submits and works. Only the registries bench builds
// for itself know them, so `opsctl submit` refuses them and `opsctl run`
// never claims them; and bench never claims a user's exec or agent tasks,
// even on an explicit --db.
const (
	benchNoopType  = "bench-noop"
	benchAgentType = "bench-agent"
)

// BenchOptions are the flags of `opsctl bench`.
type BenchOptions struct {
	F          *Factory
	DB         string // an explicit --db; "" means a scratch file
	Mode       string
	Type       string
	Tasks      int
	Batch      int
	Workers    int
	Runners    int
	Duration   time.Duration
	Rate       int
	Poll       time.Duration
	AgentDelay time.Duration
	Output     string
	Limited    int // every other task in a queue limited to this many running (bench_queues.go)
}

func newBenchCmd(f *Factory) *cobra.Command {
	opts := &BenchOptions{F: f}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure insert and work throughput, pickup latency and memory on a scratch database",
		Long: `Measure how fast this machine stores and works tasks. bench uses a new
temporary database (removed afterwards) unless --db is given, submits no-op
tasks of an internal type that only bench knows, and works them with a
runner in this process, or with --runners separate runner processes.

burn-down: insert --tasks tasks first (batches of --batch), then work them
all. continuous: insert at --rate tasks/s for --duration while working, and
measure pickup latency: claim time minus the time the task became ready.

--type agent runs agent tasks (a tool call, then an answer) against a fake
OpenAI-compatible server in this process that waits --agent-delay before
each reply: it shows what holding many concurrent agent tasks costs.

Reported: insert tasks/s, work tasks/s, pickup latency p50/p99 and the peak
resident memory (VmHWM) of the process that ran the tasks.`,
		Example: `  opsctl bench --tasks 100000 --workers 100
  opsctl bench --mode continuous --rate 20 --duration 10s -o json
  opsctl bench --tasks 100000 --runners 4
  opsctl bench --type agent --tasks 64 --workers 64 --agent-delay 2s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl := cmd.Flag("db"); fl != nil && fl.Changed {
				opts.DB = fl.Value.String()
			}
			return runBench(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Mode, "mode", "burn-down", "burn-down or continuous")
	fl.StringVar(&opts.Type, "type", "noop", "task type: noop or agent")
	fl.IntVarP(&opts.Tasks, "tasks", "n", 100_000, "burn-down: tasks to insert and work")
	fl.IntVar(&opts.Batch, "batch", 10_000, "tasks per insert transaction")
	fl.IntVar(&opts.Workers, "workers", 100, "tasks run at once by each runner")
	fl.IntVar(&opts.Runners, "runners", 0, "separate runner processes (0: one runner in this process)")
	fl.DurationVar(&opts.Duration, "duration", 10*time.Second, "continuous: how long to insert")
	fl.IntVar(&opts.Rate, "rate", 1000, "continuous: tasks inserted per second")
	fl.DurationVar(&opts.Poll, "poll", 50*time.Millisecond, "runner idle poll interval (as opsctl run --poll)")
	fl.DurationVar(&opts.AgentDelay, "agent-delay", time.Second, "agent: the fake provider's delay per reply")
	fl.StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	fl.IntVar(&opts.Limited, "limited", 0, "put every other task in a queue limited to this many running at once (0: no limit)")
	cmd.RegisterFlagCompletionFunc("mode", fixedCompletion("burn-down", "continuous"))
	cmd.RegisterFlagCompletionFunc("type", fixedCompletion("noop", "agent"))
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	cmd.AddCommand(newBenchWorkerCmd(f))
	return cmd
}

// benchReport is what bench prints; the JSON names are stable.
type benchReport struct {
	Mode          string  `json:"mode"`
	Type          string  `json:"type"`
	Tasks         int     `json:"tasks"`
	Completed     int     `json:"completed"`
	Failed        int     `json:"failed"` // finished in another state than completed
	Workers       int     `json:"workers"`
	Runners       int     `json:"runners"`
	InsertPerSec  float64 `json:"insert_per_sec"`
	WorkPerSec    float64 `json:"work_per_sec"`
	PickupP50MS   float64 `json:"pickup_p50_ms"`
	PickupP99MS   float64 `json:"pickup_p99_ms"`
	PickupMaxMS   float64 `json:"pickup_max_ms"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	InsertSeconds float64 `json:"insert_seconds"`
	WorkSeconds   float64 `json:"work_seconds"`
	TasksInFile   int64   `json:"tasks_in_file"`
	DB            string  `json:"db"` // "" for a scratch file
	CPUs          int     `json:"cpus"`
	GoVersion     string  `json:"go_version"`
	Limited       int     `json:"limited"` // --limited: 0 means no limited queue
}

func (o *BenchOptions) check() error {
	switch {
	case o.Mode != "burn-down" && o.Mode != "continuous":
		return usageErrorf("--mode must be burn-down or continuous, got %q", o.Mode)
	case o.Type != "noop" && o.Type != "agent":
		return usageErrorf("--type must be noop or agent, got %q", o.Type)
	case o.Tasks < 1 || o.Batch < 1 || o.Workers < 1 || o.Rate < 1:
		return usageErrorf("--tasks, --batch, --workers and --rate must be at least 1")
	case o.Runners < 0 || o.Limited < 0:
		return usageErrorf("--runners and --limited must not be negative")
	case o.Runners > 0 && o.Type == "agent":
		return usageErrorf("--type agent runs in this process only; drop --runners")
	case o.Duration <= 0 || o.Poll <= 0:
		return usageErrorf("--duration and --poll must be positive")
	}
	return checkFormat(o.Output, formatTable, formatJSON)
}

func runBench(ctx context.Context, o *BenchOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	path := o.DB
	var s db.Backend
	var err error
	if path == "" {
		dir, err := os.MkdirTemp("", "opsctl-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "bench.db")
		s, err = db.OpenSQLite(ctx, db.Options{Path: path})
		if err != nil {
			return err
		}
		defer s.Close()
	} else {
		if s, err = o.F.openDB(ctx, db.Options{}); err != nil {
			return err
		}
		defer s.Close()
	}
	b := &bench{o: o, s: s, path: path, rep: benchReport{Mode: o.Mode, Type: o.Type, Workers: o.Workers,
		Runners: o.Runners, DB: o.DB, Limited: o.Limited, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}}
	b.typ, b.input = benchNoopType, json.RawMessage(`{}`)
	if o.Type == "agent" {
		stop, err := b.startFakeProvider()
		if err != nil {
			return err
		}
		defer stop()
	}
	prog := newProgress(o.F.IO, 0)
	stopProg := b.showProgress(prog)
	if o.Mode == "burn-down" {
		err = b.burnDown(ctx)
	} else {
		err = b.continuous(ctx)
	}
	stopProg()
	prog.Done()
	if err != nil {
		return err
	}
	if b.rep.TasksInFile, err = s.Count(ctx); err != nil {
		return err
	}
	b.rep.PeakRSSMB = max(b.rep.PeakRSSMB, peakRSSMB())
	return b.print()
}

func (b *bench) print() error {
	r, out := b.rep, b.o.F.IO.Out
	if b.o.Output == formatJSON {
		return writeJSON(out, r)
	}
	where := "scratch file"
	if r.DB != "" {
		where = r.DB
	}
	if r.Limited > 0 {
		where += fmt.Sprintf(", half the tasks in a queue limited to %d", r.Limited)
	}
	tp := newTablePrinter(b.o.F.IO, "Measure", "Value")
	for _, row := range [][2]string{
		{"mode", fmt.Sprintf("%s, %s tasks, %d workers, %d runner process(es), %s", r.Mode, r.Type, r.Workers, r.Runners, where)},
		{"inserted", fmt.Sprintf("%d tasks in %.2fs: %.0f tasks/s", r.Tasks, r.InsertSeconds, r.InsertPerSec)},
		{"worked", fmt.Sprintf("%d tasks (%d failed) in %.2fs: %.0f tasks/s", r.Completed+r.Failed, r.Failed, r.WorkSeconds, r.WorkPerSec)},
		{"pickup latency", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", r.PickupP50MS, r.PickupP99MS, r.PickupMaxMS)},
		{"peak RSS", fmt.Sprintf("%.1f MB", r.PeakRSSMB)},
		{"tasks in file", strconv.FormatInt(r.TasksInFile, 10)},
	} {
		tp.Row(row[0], row[1])
	}
	return tp.Render()
}

// maxPickupSamples bounds the latencies kept, so that a burn-down of
// millions of tasks does not count its own samples in the peak RSS.
const maxPickupSamples = 1 << 17
