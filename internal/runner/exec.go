package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Exec runs exec tasks: an argv command or a /bin/sh -c line, under a
// supervisor process (see Supervise) in its own process group.
type Exec struct {
	// Supervisor is the program that runs the supervisor (this binary);
	// empty means os.Executable().
	Supervisor string
	// OutputTail is how many bytes of each of stdout and stderr the result
	// keeps; 0 means 64 KiB.
	OutputTail int
	// EventBytes caps how much of each stream is written as events; past it
	// the rest is only in the result's tail. 0 means 1 MiB.
	EventBytes int
	// Environ is the base environment of the command; nil means os.Environ().
	Environ func() []string
}

// ExecResult is an exec task's result.
type ExecResult struct {
	ExitCode   int    `json:"exit_code"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	DurationMS int64  `json:"duration_ms"`
}

// Validate checks an exec input.
func (e *Exec) Validate(input json.RawMessage) error {
	_, err := ParseExecInput(input)
	return err
}

// Run runs the command to its end. A non-zero exit fails the task with the
// code and the tail of stderr; cancel or timeout kills the process group.
func (e *Exec) Run(ctx context.Context, input json.RawMessage, ev Events) (json.RawMessage, error) {
	in, err := ParseExecInput(input)
	if err != nil {
		return nil, err
	}
	argv := in.Command
	if in.Shell != "" {
		argv = []string{"/bin/sh", "-c", in.Shell}
	}
	if err := checkDir(in.Dir); err != nil {
		return nil, err
	}
	sup := e.Supervisor
	if sup == "" {
		if sup, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find supervisor: %w", err)
		}
	}
	cmd := exec.Command(sup, append([]string{"--"}, argv...)...)
	env := os.Environ
	if e.Environ != nil {
		env = e.Environ
	}
	cmd.Env = append(append(env(), SuperviseEnv+"=1"), sortedEnv(in.Env)...)
	cmd.Dir = in.Dir
	cmd.SysProcAttr = processGroupAttr()
	stdout := newOutputStream("stdout", ev, e.tailSize(), e.eventBytes())
	stderr := newOutputStream("stderr", ev, e.tailSize(), e.eventBytes())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A process that escaped the supervisor (it cannot, short of a kill -9
	// of the supervisor itself) could hold the output pipes open for ever;
	// once the supervisor has exited, Wait stops reading after this long.
	cmd.WaitDelay = outputGrace
	start := time.Now()
	if err := startLocked(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			killGroup(cmd.Process.Pid, stopped)
		case <-stopped:
		}
	}()
	werr := cmd.Wait()
	close(stopped)
	stdout.Close()
	stderr.Close()
	if errors.Is(werr, exec.ErrWaitDelay) {
		ev.Emit("warning", map[string]string{"message": fmt.Sprintf("output was still open %s after the command exited; stopped reading it", outputGrace)})
		werr = nil
	}
	res := ExecResult{ExitCode: exitStatus(cmd, werr), Stdout: stdout.Tail(), Stderr: stderr.Tail(), DurationMS: time.Since(start).Milliseconds()}
	raw, _ := json.Marshal(res)
	if ctx.Err() != nil {
		return raw, ctx.Err()
	}
	if werr != nil {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			return raw, werr
		}
		return raw, commandFailed(res)
	}
	return raw, nil
}

// outputGrace is how long output is read after the supervisor exited.
const outputGrace = 2 * time.Second

// checkDir reports a missing or unusable working directory as the task's
// error; left to exec, it reads as if the opsctl binary were missing.
func checkDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return Permanent(fmt.Errorf("working directory %s: %w", dir, err))
	}
	if !fi.IsDir() {
		return Permanent(fmt.Errorf("working directory %s: not a directory", dir))
	}
	return nil
}

// commandFailed is the error of a non-zero exit: the code, and the last line
// or so of stderr, which usually says why.
func commandFailed(res ExecResult) error {
	msg := fmt.Sprintf("exit code %d", res.ExitCode)
	switch res.ExitCode {
	case 126:
		msg += " (command not executable)"
	case 127:
		msg += " (command not found)"
	}
	if tail := lastLines(res.Stderr, 3, 300); tail != "" {
		msg += ": " + tail
	}
	return errors.New(msg)
}

func lastLines(s string, n, max int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.TrimSpace(strings.Join(lines, " | "))
	if len(out) > max {
		out = "…" + out[len(out)-max:]
	}
	return out
}

func (e *Exec) tailSize() int {
	if e.OutputTail > 0 {
		return e.OutputTail
	}
	return 64 * 1024
}

func (e *Exec) eventBytes() int {
	if e.EventBytes > 0 {
		return e.EventBytes
	}
	return 1 << 20
}

func sortedEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// killGroup asks a task's supervisor to end the command (it terminates the
// command's group, then kills it after killGrace), and kills the supervisor
// itself a second later if it is still there; the command then dies by its
// parent-death signal. stopped closes when the supervisor has been reaped,
// so a pid that was reused by then is never signalled.
func killGroup(pgid int, stopped <-chan struct{}) {
	syscall.Kill(-pgid, syscall.SIGTERM)
	go func() {
		select {
		case <-stopped:
		case <-time.After(killGrace + time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
}
