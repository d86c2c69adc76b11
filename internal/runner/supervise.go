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

// SuperviseEnv marks a process started as a supervisor. Its value is "1":
// the supervisor learns nothing about the runner from its environment.
const SuperviseEnv = "OPSCTL_SUPERVISE"

// IsSupervisor reports whether this process was started as a supervisor.
func IsSupervisor() bool { return os.Getenv(SuperviseEnv) != "" }

// Supervise runs os.Args[1:] (after "--") as the supervised command and
// returns the exit code to exit with.
//
// Why a supervisor: an exec task's command may start children of its own
// (a shell pipeline, a build, a daemon it forgot). The runner starts this
// small process with a parent-death SIGTERM (the runtime kills it at once
// if the runner died before that was armed), and it starts the command as
// the leader of a process group of its own. It is also a child subreaper:
// a descendant that leaves the group or the session (setsid, a
// double-forking daemon) is re-parented to it, not to init, once its own
// parent exits. When the command exits, the supervisor kills what is left
// of the group and then every descendant it still has, so nothing holds
// the task open or outlives it. When the runner cancels the task or dies
// (even by kill -9), the supervisor gets SIGTERM and ends the whole group
// (SIGTERM, then SIGKILL after a short grace) and then every descendant.
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
	setSubreaper()

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// A session of its own, not only a group: the command then has no
	// controlling terminal, so a task cannot open /dev/tty to type into
	// (TIOCSTI) or repaint the terminal of whoever started the runner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := startLocked(cmd); err != nil {
		// Said as a shell would: this line ends up in the task's error.
		fmt.Fprintf(os.Stderr, "cannot run %s: %v\n", args[0], startReason(err))
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	group := -cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	code := 137
	select {
	case err := <-done:
		code = exitStatus(cmd, err)
	case <-sigs:
		syscall.Kill(group, syscall.SIGTERM)
		select {
		case err := <-done:
			code = exitStatus(cmd, err)
		case <-time.After(killGrace):
		}
	}
	syscall.Kill(group, syscall.SIGKILL) // leftovers of a finished command
	killDescendants()
	return code
}

// startReason is why a command could not start, without the "fork/exec
// PATH:" or "exec: NAME:" wrapping that names the program twice.
func startReason(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
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
	return append([]string{exe, "--"}, argv...), []string{SuperviseEnv + "=1"}
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
