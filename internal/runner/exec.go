package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
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
	cmd.Env = append(append(env(), fmt.Sprintf("%s=%d", SuperviseEnv, os.Getpid())), sortedEnv(in.Env)...)
	cmd.Dir = in.Dir
	cmd.SysProcAttr = processGroupAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := startLocked(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	outTail, errTail := newTail(e.tailSize()), newTail(e.tailSize())
	var wg sync.WaitGroup
	wg.Go(func() { e.pump(stdout, "stdout", outTail, ev) })
	wg.Go(func() { e.pump(stderr, "stderr", errTail, ev) })

	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			killGroup(cmd.Process.Pid, stopped)
		case <-stopped:
		}
	}()
	wg.Wait()
	werr := cmd.Wait()
	close(stopped)
	res := ExecResult{ExitCode: exitStatus(cmd, werr), Stdout: outTail.String(), Stderr: errTail.String(), DurationMS: time.Since(start).Milliseconds()}
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

// pump copies one stream into the tail and, up to the cap, into events, a
// line per event (long lines split).
func (e *Exec) pump(r io.Reader, kind string, tail *tailBuffer, ev Events) {
	br := bufio.NewReaderSize(r, 64*1024)
	budget := e.eventBytes()
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tail.Write(line)
			switch {
			case budget > 0:
				ev.Emit(kind, map[string]string{"text": string(line)})
				budget -= len(line)
				if budget <= 0 {
					ev.Emit("warning", map[string]string{"message": fmt.Sprintf("%s is over %d bytes: further output is kept only as the tail in the result", kind, e.eventBytes())})
				}
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
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
