//go:build unix && !linux

package mcp

import "syscall"

// sysProcAttr puts a stdio server in its own process group, so that Close
// can signal the server together with any children it started. Only Linux
// has Pdeathsig; elsewhere a server may outlive a runner killed with SIGKILL.
func sysProcAttr(supervised bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
