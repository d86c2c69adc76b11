package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
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
}

func (o *BenchOptions) check() error {
	switch {
	case o.Mode != "burn-down" && o.Mode != "continuous":
		return usageErrorf("--mode must be burn-down or continuous, got %q", o.Mode)
	case o.Type != "noop" && o.Type != "agent":
		return usageErrorf("--type must be noop or agent, got %q", o.Type)
	case o.Tasks < 1 || o.Batch < 1 || o.Workers < 1 || o.Rate < 1:
		return usageErrorf("--tasks, --batch, --workers and --rate must be at least 1")
	case o.Runners < 0:
		return usageErrorf("--runners must not be negative")
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
	var s *db.SQLite
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
		if s, err = o.F.openSQLite(ctx, false); err != nil {
			return err
		}
		defer s.Close()
	}
	b := &bench{o: o, s: s, path: path, rep: benchReport{Mode: o.Mode, Type: o.Type, Workers: o.Workers,
		Runners: o.Runners, DB: o.DB, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}}
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

// bench is one run of `opsctl bench`.
type bench struct {
	o     *BenchOptions
	s     *db.SQLite
	path  string
	typ   string
	input json.RawMessage
	reg   runner.Registry
	stats benchStats
	rep   benchReport

	mu       sync.Mutex
	inserted int
}

// insert stores n bench tasks in batches and returns how long it took.
func (b *bench) insert(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	ts := make([]db.NewTask, min(n, b.o.Batch))
	for i := range ts {
		ts[i] = db.NewTask{Type: b.typ, Input: b.input}
	}
	for n > 0 {
		k := min(n, len(ts))
		if _, err := b.s.SubmitBatch(ctx, ts[:k]); err != nil {
			return 0, err
		}
		n -= k
		b.mu.Lock()
		b.inserted += k
		b.mu.Unlock()
	}
	return time.Since(start), nil
}

func (b *bench) burnDown(ctx context.Context) error {
	b.rep.Tasks = b.o.Tasks
	took, err := b.insert(ctx, b.o.Tasks)
	if err != nil {
		return err
	}
	b.rep.InsertSeconds = took.Seconds()
	b.rep.InsertPerSec = float64(b.o.Tasks) / took.Seconds()
	if b.o.Runners > 0 {
		ws, err := b.startWorkers(ctx, true)
		if err != nil {
			return err
		}
		return b.collect(ws)
	}
	if err := b.runHere(ctx, true); err != nil {
		return err
	}
	b.summarize(b.stats.report())
	return nil
}

// continuous works while inserting at a steady rate, then waits until what
// was inserted is worked.
func (b *bench) continuous(ctx context.Context) error {
	var ws []*benchWorker
	var runErr chan error
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	if b.o.Runners > 0 {
		var err error
		if ws, err = b.startWorkers(ctx, false); err != nil {
			return err
		}
	} else {
		runErr = make(chan error, 1)
		go func() { runErr <- b.runHere(runCtx, false) }()
	}
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	for now := start; now.Sub(start) < b.o.Duration; now = <-tick.C {
		due := int(float64(b.o.Rate) * now.Sub(start).Seconds())
		if k := due - b.rep.Tasks; k > 0 {
			if _, err := b.insert(ctx, k); err != nil {
				tick.Stop()
				return err
			}
			b.rep.Tasks += k
		}
	}
	tick.Stop()
	took := time.Since(start)
	b.rep.InsertSeconds = took.Seconds()
	b.rep.InsertPerSec = float64(b.rep.Tasks) / took.Seconds()
	// Wait for the backlog to be worked, for at most --duration (or 10s).
	deadline := time.Now().Add(max(b.o.Duration, 10*time.Second))
	for time.Now().Before(deadline) {
		left, err := b.left(ctx)
		if err != nil || !left {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ws != nil {
		for _, w := range ws {
			w.cmd.Process.Signal(syscall.SIGTERM)
		}
		return b.collect(ws)
	}
	stopRun()
	if err := <-runErr; err != nil {
		return err
	}
	b.summarize(b.stats.report())
	return nil
}

// left reports whether bench tasks are still pending or running.
func (b *bench) left(ctx context.Context) (bool, error) {
	for _, st := range []db.Status{db.StatusPending, db.StatusRunning} {
		ts, err := b.s.List(ctx, db.Filter{Statuses: []db.Status{st}, Types: []string{b.typ}, Limit: 1})
		if err != nil || len(ts) > 0 {
			return true, err
		}
	}
	return false, nil
}

// runHere runs one runner in this process; once stops it when drained.
func (b *bench) runHere(ctx context.Context, once bool) error {
	if b.reg == nil {
		b.reg = runner.Registry{benchNoopType: benchNoop{}}
	}
	r, err := runner.New(runner.Options{
		Store: b.s, Registry: b.reg, Workers: b.o.Workers, Lease: 30 * time.Second,
		Poll: b.o.Poll, Grace: 10 * time.Second, Once: once, Log: b.o.F.IO.ErrOut,
		OnClaim: b.stats.onClaim, OnFinish: b.stats.onFinish,
	})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// summarize fills the work figures from the runners' reports.
func (b *bench) summarize(rs ...workerReport) {
	var first, last time.Time
	var pickup []float64
	for _, r := range rs {
		b.rep.Completed += r.Done - r.Failed
		b.rep.Failed += r.Failed
		pickup = append(pickup, r.PickupMS...)
		b.rep.PeakRSSMB = max(b.rep.PeakRSSMB, r.PeakRSSMB)
		if r.Done == 0 {
			continue
		}
		if first.IsZero() || r.First.Before(first) {
			first = r.First
		}
		if r.Last.After(last) {
			last = r.Last
		}
	}
	if d := last.Sub(first); d > 0 {
		b.rep.WorkSeconds = d.Seconds()
		b.rep.WorkPerSec = float64(b.rep.Completed+b.rep.Failed) / d.Seconds()
	}
	slices.Sort(pickup)
	b.rep.PickupP50MS, b.rep.PickupP99MS = percentile(pickup, 50), percentile(pickup, 99)
	if len(pickup) > 0 {
		b.rep.PickupMaxMS = pickup[len(pickup)-1]
	}
}

// percentile is the nearest-rank percentile of sorted values; 0 for none.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// showProgress redraws the progress line until the returned func is called.
func (b *bench) showProgress(p *progress) func() {
	if !b.o.F.IO.ErrTTY {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				b.mu.Lock()
				p.total = b.inserted
				b.mu.Unlock()
				p.Set(b.stats.finished())
			}
		}
	}()
	return func() { close(stop); <-done }
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

// benchNoop is the no-op handler of benchNoopType.
type benchNoop struct{}

func (benchNoop) Validate(json.RawMessage) error { return nil }

func (benchNoop) Run(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}

// benchStats records what one runner claimed and finished.
type benchStats struct {
	mu          sync.Mutex
	done        int
	failed      int
	first, last time.Time
	claimed     int
	pickup      []float64 // a uniform sample of at most maxPickupSamples
}

// maxPickupSamples bounds the latencies kept, so that a burn-down of
// millions of tasks does not count its own samples in the peak RSS.
const maxPickupSamples = 1 << 17

// onClaim records the pickup latency: claim time minus the time the task
// became ready, both as the store recorded them.
func (s *benchStats) onClaim(t db.Task) {
	ready := t.RunAfter
	if t.CreatedAt.After(ready) {
		ready = t.CreatedAt
	}
	ms := float64(t.StartedAt.Sub(ready).Microseconds()) / 1000
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first.IsZero() {
		s.first = time.Now()
	}
	// Reservoir sampling: every latency has the same chance to be kept.
	s.claimed++
	if len(s.pickup) < maxPickupSamples {
		s.pickup = append(s.pickup, ms)
	} else if i := rand.IntN(s.claimed); i < maxPickupSamples {
		s.pickup[i] = ms
	}
}

func (s *benchStats) onFinish(o db.Outcome) {
	s.mu.Lock()
	s.done++
	if o.Status != db.StatusCompleted {
		s.failed++
	}
	s.last = time.Now()
	s.mu.Unlock()
}

func (s *benchStats) finished() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

func (s *benchStats) report() workerReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return workerReport{Done: s.done, Failed: s.failed, First: s.first, Last: s.last, PickupMS: s.pickup, PeakRSSMB: peakRSSMB()}
}

// workerReport is what one runner measured; `bench worker` prints it.
type workerReport struct {
	Done      int       `json:"done"`
	Failed    int       `json:"failed"`
	First     time.Time `json:"first_claim"`
	Last      time.Time `json:"last_finish"`
	PickupMS  []float64 `json:"pickup_ms"`
	PeakRSSMB float64   `json:"peak_rss_mb"`
}

// peakRSSMB is this process's peak resident memory in MiB.
func peakRSSMB() float64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				return kb / 1024
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		return float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return 0
}

// benchWorker is one runner process started by bench.
type benchWorker struct {
	cmd         *exec.Cmd
	out, errOut bytes.Buffer
}

// startWorkers starts --runners `opsctl bench worker` processes on the file.
func (b *bench) startWorkers(ctx context.Context, once bool) ([]*benchWorker, error) {
	// os.Args[0] first: under a test harness os.Executable is the test
	// binary itself, while PATH names the program that acts as opsctl.
	self, err := exec.LookPath(os.Args[0])
	if err != nil {
		if self, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	args := []string{"bench", "worker", "--db", b.path, "--workers", strconv.Itoa(b.o.Workers),
		"--poll", b.o.Poll.String(), "--once=" + strconv.FormatBool(once)}
	var ws []*benchWorker
	for range b.o.Runners {
		w := &benchWorker{cmd: exec.CommandContext(ctx, self, args...)}
		w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.errOut
		if err := w.cmd.Start(); err != nil {
			for _, w := range ws {
				w.cmd.Process.Kill()
				w.cmd.Wait()
			}
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// collect waits for the worker processes and sums up their reports. A
// "database is locked" on any worker's stderr is an error.
func (b *bench) collect(ws []*benchWorker) error {
	var rs []workerReport
	var errs []string
	for i, w := range ws {
		err := w.cmd.Wait()
		stderr := strings.TrimSpace(w.errOut.String())
		if err != nil || strings.Contains(stderr, "locked") {
			errs = append(errs, fmt.Sprintf("runner %d: %v: %s", i+1, err, oneLine(stderr)))
			continue
		}
		var r workerReport
		if err := json.Unmarshal(w.out.Bytes(), &r); err != nil {
			errs = append(errs, fmt.Sprintf("runner %d: bad report: %v", i+1, err))
			continue
		}
		rs = append(rs, r)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench: %s", strings.Join(errs, "; "))
	}
	b.summarize(rs...)
	return nil
}

// newBenchWorkerCmd is the hidden runner process of `bench --runners`: an
// `opsctl run` on the bench's file that knows only the bench's task type
// and prints what it measured as JSON.
func newBenchWorkerCmd(f *Factory) *cobra.Command {
	var workers int
	var once bool
	var poll time.Duration
	cmd := &cobra.Command{
		Use:    "worker",
		Short:  "A runner process of bench --runners",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl := cmd.Flag("db"); fl == nil || !fl.Changed {
				return usageErrorf("bench worker needs --db")
			}
			s, err := f.Store(cmd.Context())
			if err != nil {
				return err
			}
			var st benchStats
			r, err := runner.New(runner.Options{
				Store: s, Registry: runner.Registry{benchNoopType: benchNoop{}}, Workers: workers,
				Lease: 30 * time.Second, Poll: poll, Grace: 10 * time.Second, Once: once,
				Log: f.IO.ErrOut, OnClaim: st.onClaim, OnFinish: st.onFinish,
			})
			if err != nil {
				return err
			}
			if err := r.Run(cmd.Context()); err != nil {
				return err
			}
			return json.NewEncoder(f.IO.Out).Encode(st.report())
		},
	}
	cmd.Flags().IntVar(&workers, "workers", 100, "tasks run at once")
	cmd.Flags().BoolVar(&once, "once", true, "stop when nothing is ready and nothing is running")
	cmd.Flags().DurationVar(&poll, "poll", 50*time.Millisecond, "idle poll interval")
	return cmd
}

// startFakeProvider starts an OpenAI-compatible endpoint on a loopback port
// that answers a conversation without a tool result with a current_time
// call, and one with a result with a short answer, each after AgentDelay;
// and it registers the agent handler pointed at it under benchAgentType.
func (b *bench) startFakeProvider() (stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case <-time.After(b.o.AgentDelay):
		case <-r.Context().Done():
			return
		}
		msg := `{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",` +
			`"function":{"name":"current_time","arguments":"{}"}}]}`
		reason := "tool_calls"
		if bytes.Contains(body, []byte(`"role":"tool"`)) {
			msg, reason = `{"role":"assistant","content":"It is now."}`, "stop"
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench",`+
			`"choices":[{"index":0,"message":%s,"finish_reason":%q}],`+
			`"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`, msg, reason)
	})}
	go srv.Serve(ln)
	h := &agent.Handler{
		Config: agent.Config{Provider: "openai", Model: "bench", BaseURL: "http://" + ln.Addr().String() + "/v1/",
			Tools: []string{agent.ToolCurrentTime}},
		Getenv: func(name string) string {
			if name == "OPENAI_API_KEY" {
				return "bench-key"
			}
			return ""
		},
	}
	b.typ, b.input = benchAgentType, json.RawMessage(`{"prompt":"What time is it?"}`)
	b.reg = runner.Registry{benchAgentType: agentAdapter{h}}
	return func() { srv.Close() }, nil
}
