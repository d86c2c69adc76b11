package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// SuperviseEnv marks a process started as an exec task's supervisor.
const SuperviseEnv = "OPSCTL_SUPERVISE"

// IsSupervisor reports whether this process was started as a supervisor.
func IsSupervisor() bool { return os.Getenv(SuperviseEnv) == "1" }

// Supervise runs os.Args[1:] (after "--") as the supervised command and
// returns the exit code to exit with.
//
// Why a supervisor: an exec task's command may start children of its own
// (a shell pipeline, a build). A parent-death signal on the direct child
// alone leaves those grandchildren orphaned when the runner is killed -9.
// The runner starts this small process as the leader of a new process group
// with a parent-death SIGTERM; when the runner dies, the supervisor kills
// the whole group, grandchildren included, then exits.
func Supervise() int {
	args := os.Args[1:]
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "opsctl supervisor: no command")
		return 127
	}
	os.Unsetenv(SuperviseEnv)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	// If the runner died before the parent-death signal was armed, the
	// supervisor has been re-parented already; stop at once.
	if os.Getppid() == 1 {
		return 137
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "opsctl: %v\n", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitStatus(cmd, err)
	case <-sigs:
		// Terminate the whole group (this process ignores the signal it is
		// handling), then kill what is left after a short grace.
		syscall.Kill(0, syscall.SIGTERM)
		select {
		case err := <-done:
			syscall.Kill(0, syscall.SIGKILL)
			return exitStatus(cmd, err)
		case <-time.After(killGrace):
			syscall.Kill(0, syscall.SIGKILL)
			return 137
		}
	}
}

// killGrace is how long a terminated command may take before SIGKILL.
const killGrace = 3 * time.Second

func exitStatus(cmd *exec.Cmd, err error) int {
	if err == nil {
		return 0
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if cmd.ProcessState != nil {
		return cmd.ProcessState.ExitCode()
	}
	return 1
}
