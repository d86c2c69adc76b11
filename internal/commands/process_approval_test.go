package commands_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

// Approvals across real runner processes: one runner parks the task, a
// person decides with the CLI, another runner continues the run where it
// stopped. The fake provider counts the model calls.

// approvalEnv is a procEnv whose config asks before run_command and lets it
// start touch and sleep.
func approvalEnv(t *testing.T, extra string) *procEnv {
	t.Helper()
	return policyEnv(t, "  approval:\n    run_command: ask\n"+extra)
}

// policyEnv is a procEnv with agent settings agent (indented YAML lines)
// that let run_command start touch and sleep.
func policyEnv(t *testing.T, agent string) *procEnv {
	t.Helper()
	p := newProcEnv(t)
	cfgDir := filepath.Join(p.dir, "config", "opsctl")
	require.NoError(t, os.MkdirAll(cfgDir, 0o700))
	cfg := "agent:\n  run_command_allow: [touch, sleep]\n" + agent
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "config.yaml"), []byte(cfg), 0o600))
	return p
}

// submitAgent submits an agent task talking to srv with the given tools.
func submitAgent(p *procEnv, srv *llmtest.Server, tools string, extra ...string) int64 {
	p.t.Helper()
	input := fmt.Sprintf(`{"prompt":"tidy up","provider":"openai","model":"m","base_url":%q,"tools":%s}`, srv.URL(), tools)
	return p.submit(append([]string{"--type", "agent", "--input", input}, extra...)...)
}

// toolMessages returns the tool results a request sent to the model.
func toolMessages(req llmtest.Request) []string {
	var out []string
	for _, m := range req.Messages() {
		if m["role"] == "tool" {
			out = append(out, fmt.Sprint(m["content"]))
		}
	}
	return out
}

func waitingRequest(t *testing.T, p *procEnv, id int64) map[string]any {
	t.Helper()
	out := p.ok("approvals", "-o", "json")
	var as []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &as), out)
	require.Len(t, as, 1, out)
	require.EqualValues(t, id, as[0]["task"])
	require.Equal(t, "run_command", as[0]["tool"])
	return as[0]
}

func TestApproveAcrossRunners(t *testing.T) {
	t.Parallel()
	p := approvalEnv(t, "")
	srv := llmtest.NewOpenAI(t)
	srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "run_command", `{"command":["touch","marker"]}`)), llmtest.Text("done"))
	id := submitAgent(p, srv, `["run_command"]`)

	_, stderr, code := p.run("run", "--once")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, fmt.Sprintf("task %d waits for approval of run_command", id))
	require.Equal(t, "waiting", p.show(id).Status)
	req := waitingRequest(t, p, id)
	require.JSONEq(t, `{"command":["touch","marker"]}`, string(must(json.Marshal(req["arguments"]))))
	require.NoFileExists(t, filepath.Join(p.dir, "marker"))
	require.Len(t, srv.Requests(), 1)
	shown := p.ok("show", fmt.Sprint(id))
	require.Contains(t, shown, "waiting")
	require.Contains(t, shown, `approval of run_command({"command":["touch","marker"]})`)
	require.Contains(t, shown, fmt.Sprintf("opsctl approve %d, or opsctl deny %d", id, id))

	// Nothing to approve on a task that waits for nothing; a missing id.
	other := p.submit("--", "true")
	_, stderr, code = p.run("approve", fmt.Sprint(other))
	require.Equal(t, 1, code)
	require.Equal(t, fmt.Sprintf("opsctl: task %d is pending: it waits for no approval\n", other), stderr)
	_, _, code = p.run("approve", "999")
	require.Equal(t, 3, code)
	p.ok("cancel", fmt.Sprint(other))

	out := p.ok("approve", fmt.Sprint(id))
	require.Equal(t, fmt.Sprintf("task %d: approved run_command; pending again\n", id), out)
	require.Equal(t, "pending", p.show(id).Status)

	_, stderr, code = p.run("run", "--once")
	require.Equal(t, 0, code, stderr)
	task := p.show(id)
	require.Equal(t, "completed", task.Status, stderr)
	require.FileExists(t, filepath.Join(p.dir, "marker"))
	// Two model calls in all: the first turn was not asked again.
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	require.Len(t, toolMessages(reqs[1]), 1)
	require.NotContains(t, toolMessages(reqs[1])[0], "error")
	require.Zero(t, srv.Pending())
	logs := p.ok("logs", fmt.Sprint(id))
	require.Contains(t, logs, "approval")
}

func TestDenyAcrossRunners(t *testing.T) {
	t.Parallel()
	p := approvalEnv(t, "")
	srv := llmtest.NewOpenAI(t)
	srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "run_command", `{"command":["touch","marker"]}`)), llmtest.Text("ok, not touching it"))
	id := submitAgent(p, srv, `["run_command"]`)
	_, stderr, code := p.run("run", "--once")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "waiting", p.show(id).Status)

	out := p.ok("deny", fmt.Sprint(id), "--reason", "not on a Friday")
	require.Equal(t, fmt.Sprintf("task %d: denied run_command; pending again\n", id), out)
	_, stderr, code = p.run("run", "--once")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "completed", p.show(id).Status)
	require.NoFileExists(t, filepath.Join(p.dir, "marker"))
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	results := toolMessages(reqs[1])
	require.Len(t, results, 1)
	require.Contains(t, results[0], "denied")
	require.Contains(t, results[0], "not on a Friday")
}

func TestApprovalExpiresWhileRunnerRuns(t *testing.T) {
	t.Parallel()
	p := approvalEnv(t, "  approval_timeout: 1s\n")
	srv := llmtest.NewOpenAI(t)
	srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "run_command", `{"command":["touch","marker"]}`)), llmtest.Text("fine"))
	id := submitAgent(p, srv, `["run_command"]`)
	// The runner's rescue pass (every third of the lease) denies the
	// request once it is a second old, and the same runner continues.
	runner, log := p.startRunner("--lease", "3s")
	eventually(t, 30*time.Second, "the task to complete after its request expired", func() bool {
		return p.show(id).Status == "completed"
	})
	require.NoError(t, runner.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, waitExit(t, runner, 30*time.Second), log.String())
	require.NoFileExists(t, filepath.Join(p.dir, "marker"))
	results := toolMessages(srv.Requests()[1])
	require.Len(t, results, 1)
	require.Contains(t, results[0], "no decision within 1s")
	require.Contains(t, log.String(), "waited past agent.approval_timeout")
}

func TestCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	p := approvalEnv(t, "")
	srv := llmtest.NewOpenAI(t)
	srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "run_command", `{"command":["touch","marker"]}`)))
	id := submitAgent(p, srv, `["run_command"]`)
	_, stderr, code := p.run("run", "--once")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "waiting", p.show(id).Status)
	require.Equal(t, fmt.Sprintf("task %d: cancelled\n", id), p.ok("cancel", fmt.Sprint(id)))
	require.Equal(t, "cancelled", p.show(id).Status)
	require.Equal(t, "[]\n", p.ok("approvals", "-o", "json"))
	// A decision now has nothing to decide.
	_, stderr, code = p.run("approve", fmt.Sprint(id))
	require.Equal(t, 1, code, stderr)
}

// A runner killed while a tool call runs: the next attempt continues from
// the checkpoint, tells the model the call was interrupted (it does not run
// it again), and does not repeat the model call already made.
func TestResumeAfterKillMidToolCall(t *testing.T) {
	t.Parallel()
	p := policyEnv(t, "")
	srv := llmtest.NewOpenAI(t)
	srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "run_command", `{"command":["sleep","30"]}`)), llmtest.Text("recovered"))
	id := submitAgent(p, srv, `["run_command"]`, "--max-attempts", "2")

	runner, log := p.startRunner("--lease", "2s")
	eventually(t, 20*time.Second, "the tool call to start", func() bool {
		return strings.Contains(p.ok("logs", fmt.Sprint(id)), "sleep")
	})
	require.NoError(t, runner.Process.Signal(syscall.SIGKILL))
	waitExit(t, runner, 10*time.Second)
	_ = log

	second, log2 := p.startRunner("--lease", "2s")
	eventually(t, 60*time.Second, "the task to complete on the second runner", func() bool {
		return p.show(id).Status == "completed"
	})
	require.NoError(t, second.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, waitExit(t, second, 30*time.Second), log2.String())
	reqs := srv.Requests()
	require.Len(t, reqs, 2, "the first model call is not made again")
	results := toolMessages(reqs[1])
	require.Len(t, results, 1)
	require.Contains(t, results[0], "interrupted")
	logs := p.ok("logs", fmt.Sprint(id))
	require.Contains(t, logs, "resumed from the checkpoint")
	require.Contains(t, logs, "was interrupted when its runner was lost")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
