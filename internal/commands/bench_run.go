package commands

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
)

// bench is one run of `opsctl bench`.
type bench struct {
	o     *BenchOptions
	s     db.Backend
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
		b.mu.Lock()
		setBenchQueues(ts[:k], b.o.Limited, b.inserted)
		b.mu.Unlock()
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
		OnClaim: b.stats.onClaim, OnFinish: b.stats.onFinish, QueueLimits: benchQueueLimits(b.o.Limited),
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
