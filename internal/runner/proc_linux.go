package runner

import (
	"os/exec"
	"runtime"
	"syscall"
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
