package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opsctl/opsctl/internal/llm"
)

// The limits of run_command: enough output for a model to read, and a time
// limit so a hung program cannot hold the run.
const (
	runCommandMaxOutput = 16 << 10
	runCommandTimeout   = 30 * time.Second
	// runCommandWaitDelay bounds the wait for the output pipes after the
	// process ended, which a grandchild holding them open would otherwise
	// stretch forever.
	runCommandWaitDelay = 2 * time.Second
)

// runCommandArgs are run_command's arguments.
type runCommandArgs struct {
	Command []string `json:"command"`
}

// newRunCommandTool returns run_command, which starts a program from the
// allow list directly, without a shell, so that arguments are never
// interpreted as shell syntax. argv[0] must equal an allow-list entry
// exactly: "ls" allows "ls" as found on PATH, not "/tmp/ls". The process
// gets env, which leaves out the API key and the redacted variables.
func newRunCommandTool(allow, env []string) Tool {
	return funcTool{
		spec: llm.ToolSpec{
			Name: ToolRunCommand,
			Description: "Runs an allowed program (no shell) with arguments and returns its exit code and " +
				"combined output (at most 16 KiB, 30 s).",
			Schema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"array",` +
				`"items":{"type":"string"},"minItems":1,"description":"the program and its arguments, e.g. [\"ls\", \"-l\"]"}},` +
				`"required":["command"],"additionalProperties":false}`),
		},
		call: func(ctx context.Context, raw json.RawMessage) (string, error) {
			var args runCommandArgs
			if err := json.Unmarshal(raw, &args); err != nil {
				return "", ToolErrorf("invalid arguments: %v", err)
			}
			return runAllowedCommand(ctx, allow, env, args.Command, runCommandTimeout)
		},
	}
}

// runAllowedCommand runs argv if its program is allowed, for at most timeout.
func runAllowedCommand(ctx context.Context, allow, env, argv []string, timeout time.Duration) (string, error) {
	if len(argv) == 0 || argv[0] == "" {
		return "", ToolErrorf("command is empty")
	}
	if len(allow) == 0 {
		return "", ToolErrorf("run_command is not configured with any allowed program (agent.run_command_allow)")
	}
	if !slices.Contains(allow, argv[0]) {
		return "", ToolErrorf("program %q is not allowed (allowed: %s)", argv[0], strings.Join(allow, ", "))
	}
	cmdCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.WaitDelay = runCommandWaitDelay
	out := &cappedBuffer{max: runCommandMaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	var exitErr *exec.ExitError
	// The run's own end is checked first: then the limit that stopped the
	// program was not run_command's.
	switch {
	case ctx.Err() != nil:
		return "", ToolErrorf("%s: stopped because the run ended: %v", argv[0], ctx.Err())
	case cmdCtx.Err() != nil:
		return "", ToolErrorf("%s: timed out after %s\n%s", argv[0], timeout, out.text())
	case errors.As(err, &exitErr):
		return fmt.Sprintf("exit code: %d\n%s", exitErr.ExitCode(), out.text()), nil
	case err != nil:
		return "", ToolErrorf("cannot run %s: %v", argv[0], err)
	}
	return "exit code: 0\n" + out.text(), nil
}

// cappedBuffer keeps the first max bytes written to it and counts the rest.
// It accepts every write, so the program never sees a broken pipe because
// its output was too long. Stdout and stderr share it from two goroutines.
type cappedBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	total int
}

// Write keeps what fits and reports everything as written.
func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += len(p)
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// text returns the kept output, noting how much was left out.
func (b *cappedBuffer) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.ToValidUTF8(string(b.buf), "\uFFFD")
	if b.total > len(b.buf) {
		s += fmt.Sprintf("\n[truncated: only the first %d of %d bytes of output are shown]", len(b.buf), b.total)
	}
	return s
}
