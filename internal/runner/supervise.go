package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// SuperviseEnv marks a process started as an exec task's supervisor; its
// value is the runner's pid.
const SuperviseEnv = "OPSCTL_SUPERVISE"

// IsSupervisor reports whether this process was started as a supervisor.
func IsSupervisor() bool { return os.Getenv(SuperviseEnv) != "" }

// Supervise runs os.Args[1:] (after "--") as the supervised command and
// returns the exit code to exit with.
//
// Why a supervisor: an exec task's command may start children of its own
// (a shell pipeline, a build, a daemon it forgot). The runner starts this
// small process with a parent-death SIGTERM, and it starts the command as
// the leader of a process group of its own. When the command exits, the
// supervisor kills whatever is left in that group, so background children
// neither hold the task open nor outlive it. When the runner cancels the
// task or dies (even by kill -9), the supervisor gets SIGTERM and ends the
// whole group: SIGTERM, then SIGKILL after a short grace.
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
	runnerPID := os.Getenv(SuperviseEnv)
	os.Unsetenv(SuperviseEnv)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	// If the runner died before the parent-death signal was armed, this
	// process has been re-parented already; stop at once.
	if strconv.Itoa(os.Getppid()) != runnerPID {
		return 137
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startLocked(cmd); err != nil {
		fmt.Fprintf(os.Stderr, "opsctl: %v\n", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	group := -cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		syscall.Kill(group, syscall.SIGKILL) // leftovers of a finished command
		return exitStatus(cmd, err)
	case <-sigs:
		syscall.Kill(group, syscall.SIGTERM)
		select {
		case err := <-done:
			syscall.Kill(group, syscall.SIGKILL)
			return exitStatus(cmd, err)
		case <-time.After(killGrace):
			syscall.Kill(group, syscall.SIGKILL)
			return 137
		}
	}
}

// SupervisedCommand returns argv wrapped to run under this binary's
// supervisor, and the variable that marks it, for commands started outside
// an exec task (MCP stdio servers). Without a known executable it returns
// argv unchanged.
func SupervisedCommand(argv []string) ([]string, []string) {
	exe, err := os.Executable()
	if err != nil {
		return argv, nil
	}
	return append([]string{exe, "--"}, argv...), []string{fmt.Sprintf("%s=%d", SuperviseEnv, os.Getpid())}
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
