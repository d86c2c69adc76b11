package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/runner"
)

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
		"--poll", b.o.Poll.String(), "--once=" + strconv.FormatBool(once), "--limited", strconv.Itoa(b.o.Limited)}
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
	var limited int
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
				Log: f.IO.ErrOut, OnClaim: st.onClaim, OnFinish: st.onFinish, QueueLimits: benchQueueLimits(limited),
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
	cmd.Flags().IntVar(&limited, "limited", 0, "bench's --limited")
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
