package runner

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// processGroupAttr starts the supervisor as the leader of a new process
// group, with SIGTERM sent to it if the runner dies.
func processGroupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// startLocked starts cmd from a locked OS thread. Linux sends the parent-death
// signal when the thread that forked the child exits, not the process; the
// thread stays locked only during Start, and the Go runtime does not retire
// unlocked threads, so the signal fires when the process dies.
func startLocked(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Start()
}

// setSubreaper makes this process the reaper of its orphaned descendants.
// Failing that (an old kernel), escaped daemons go to init as before.
func setSubreaper() {
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// descendantsDeadline bounds killDescendants: a fork bomb must not keep a
// supervisor (and so its task) alive for ever.
const descendantsDeadline = 5 * time.Second

// killDescendants SIGKILLs every child of this process and reaps it, round
// after round: as a subreaper, this process inherits the children of each
// child it kills, so it goes on until it has no children left.
func killDescendants() {
	self := os.Getpid()
	deadline := time.Now().Add(descendantsDeadline)
	for time.Now().Before(deadline) {
		for _, pid := range childrenOf(self) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		// Reap every child that has exited before scanning /proc again.
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.ECHILD {
				return
			}
			if err != nil || pid == 0 {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// childrenOf lists the processes whose parent is ppid, from /proc.
func childrenOf(ppid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses,
		// so the fields after it start after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(b[i+1:])
		if len(fields) < 2 {
			continue
		}
		if p, _ := strconv.Atoi(string(fields[1])); p == ppid {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}
