package mcp

import "syscall"

// sysProcAttr puts a stdio server in its own process group, so that Close
// can signal the server together with any children it started, and asks
// the kernel to SIGKILL it if opsctl dies, so that no server outlives a
// killed runner.
//
// Pdeathsig fires when the OS thread that started the child exits, not the
// whole process. The Go runtime does not end its threads while they run
// ordinary goroutines (only a goroutine that exits while locked to its
// thread takes the thread with it), so in practice this tracks the process.
//
// A supervised server (Options.Supervise) gets SIGTERM instead: its
// supervisor catches it and ends the server's whole process group, which a
// SIGKILL of the supervisor alone would leave behind.
func sysProcAttr(supervised bool) *syscall.SysProcAttr {
	sig := syscall.SIGKILL
	if supervised {
		sig = syscall.SIGTERM
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}
