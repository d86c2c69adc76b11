//go:build unix

package mcp

import "syscall"

// signalGroup sends the terminate or kill signal to the process group led
// by pid. Errors are ignored: the usual one is ESRCH, meaning every process
// of the group is already gone, which is what the caller wanted.
func signalGroup(pid int, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-pid, sig)
}
