package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// baseEnvNames are the variables a stdio server inherits from opsctl by
// default: enough to find programs, a home directory, a locale and a place
// for temporary files, and nothing that could hold a secret.
var baseEnvNames = [...]string{"PATH", "HOME", "LANG", "TMPDIR"}

// stderrTail is how much of a stdio server's stderr Start keeps for itself,
// to quote the last line when the server fails to start.
const stderrTail = 2048

// defaultBaseEnv returns the base variables that are set in opsctl's own
// environment.
func defaultBaseEnv() []string {
	var env []string
	for _, k := range baseEnvNames {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// childEnv lays the server's declared variables over the base, keeping the
// base's order and adding the declared ones in sorted order, so that the
// child's environment is deterministic.
func childEnv(base []string, declared map[string]string) []string {
	env := make([]string, 0, len(base)+len(declared))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, overridden := declared[k]; !overridden {
			env = append(env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(declared)) {
		env = append(env, k+"="+declared[k])
	}
	return env
}

// process records a stdio server's pid once it has started. The pid is
// needed by goroutines other than the one that started the server (the
// start deadline, Close), hence the lock.
type process struct {
	mu sync.Mutex
	id int
}

func (p *process) set(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.id = pid
}

func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.id
}

// signal sends SIGTERM, or SIGKILL when kill is set, to the server's
// process group. It does nothing before the server has started.
func (p *process) signal(kill bool) {
	if pid := p.pid(); pid > 0 {
		signalGroup(pid, kill)
	}
}

// startedTransport is the SDK's CommandTransport, which starts the command
// inside Connect, plus a note of the pid as soon as the process exists, so
// that a start deadline can kill a process that never completes the
// handshake.
type startedTransport struct {
	inner *sdk.CommandTransport
	proc  *process
}

// Connect implements the SDK's Transport interface.
func (t *startedTransport) Connect(ctx context.Context) (sdk.Connection, error) {
	conn, err := t.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	t.proc.set(t.inner.Command.Process.Pid)
	return conn, nil
}

// noErrorWriter hides the caller's write errors from exec's stderr copy: a
// failing writer would stop the copy, the pipe would fill up, and a server
// that logs would then block forever on its next write to stderr.
type noErrorWriter struct{ w io.Writer }

// Write implements io.Writer, reporting success whatever w did.
func (n noErrorWriter) Write(p []byte) (int, error) {
	_, _ = n.w.Write(p)
	return len(p), nil
}

// startStdio runs the server's command and performs the handshake within
// StartTimeout.
func (s *Session) startStdio(ctx context.Context, client *sdk.Client, opts Options) error {
	// The command is deliberately not tied to a context (no
	// exec.CommandContext): ctx only bounds the start, and its end must
	// not kill a server that started well. Close ends the process.
	argv := append([]string{s.cfg.Command}, s.cfg.Args...)
	var extraEnv []string
	if opts.Supervise != nil {
		argv, extraEnv = opts.Supervise(argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	base := defaultBaseEnv()
	if opts.BaseEnv != nil {
		base = opts.BaseEnv()
	}
	cmd.Env = append(childEnv(base, s.cfg.Env), extraEnv...)
	cmd.Dir = s.cfg.Dir
	tail := NewTailBuffer(stderrTail)
	s.tail = tail
	cmd.Stderr = tail
	if opts.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, noErrorWriter{opts.Stderr})
	}
	s.stderr = opts.Stderr
	cmd.SysProcAttr = sysProcAttr(opts.Supervise != nil)
	// A grandchild that escaped the process group may hold stderr open
	// after the server exits; WaitDelay keeps that from blocking Wait.
	cmd.WaitDelay = s.grace
	s.proc = &process{}
	transport := &startedTransport{
		inner: &sdk.CommandTransport{Command: cmd, TerminateDuration: s.grace},
		proc:  s.proc,
	}

	timeout := s.cfg.StartTimeout
	startCtx, cancel := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("no MCP handshake within %s: %w", timeout, context.DeadlineExceeded))
	defer cancel()
	// When the start deadline passes, kill the process group at once: the
	// SDK's own clean-up after a failed handshake would first wait for the
	// server to exit by itself, which a hung server never does.
	stopKiller := context.AfterFunc(startCtx, func() { s.proc.signal(true) })
	cs, err := client.Connect(startCtx, transport, nil)
	if !stopKiller() && err == nil {
		// The deadline passed just as the handshake finished, and the
		// killer may already be on its way: report the start as failed.
		_ = cs.Close()
		err = startCtx.Err()
	}
	if err != nil {
		// The SDK has reaped the server after the failed handshake; this
		// also removes any children it left in its group.
		s.proc.signal(true)
		if startCtx.Err() != nil {
			err = context.Cause(startCtx)
		}
		if line := tail.lastLine(300); line != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, line)
		}
		return err
	}
	s.cs = cs
	return nil
}

// closeStdio ends the session and the server's process group. The SDK's
// Close closes the server's input, waits, and signals the server itself;
// meanwhile this escalates on the whole process group on the same
// schedule, so that children the server started get the same treatment.
func (s *Session) closeStdio() error {
	done := make(chan error, 1)
	go func() { done <- s.cs.Close() }()
	term := time.NewTimer(s.grace)
	defer term.Stop()
	kill := time.NewTimer(2 * s.grace)
	defer kill.Stop()
	// Past this, the process is stuck in a way SIGKILL cannot fix (such as
	// uninterruptible I/O); report it instead of hanging the runner.
	giveUp := time.NewTimer(3*s.grace + 5*time.Second)
	defer giveUp.Stop()
	for {
		select {
		case err := <-done:
			// The server has been reaped. Kill whatever is left in its
			// group, such as a child that ignored the end of its parent.
			s.proc.signal(true)
			if f, ok := s.stderr.(interface{ Flush() }); ok {
				f.Flush()
			}
			if err == nil || exitedAnyway(err) {
				return nil
			}
			return fmt.Errorf("mcp server %q: close: %w", s.name, err)
		case <-term.C:
			s.proc.signal(false)
		case <-kill.C:
			s.proc.signal(true)
		case <-giveUp.C:
			return fmt.Errorf("mcp server %q: close: process %d did not exit after SIGKILL", s.name, s.proc.pid())
		}
	}
}

// exitedAnyway reports whether an error from closing the SDK's command
// connection still means that the server has exited:
//   - an exit status: a server we stopped, or one that crashed (which the
//     failed call has already reported), is not a failure to close;
//   - os.ErrProcessDone: the SDK signals the server itself on a schedule of
//     its own, and fails when the process has exited meanwhile;
//   - exec.ErrWaitDelay: the server exited, but something it started kept
//     its stderr open (that process is killed with the group).
func exitedAnyway(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) || errors.Is(err, os.ErrProcessDone) || errors.Is(err, exec.ErrWaitDelay)
}
