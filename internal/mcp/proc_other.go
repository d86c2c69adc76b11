//go:build !unix

package mcp

import (
	"os"
	"syscall"
)

// sysProcAttr has nothing to add on systems without process groups.
func sysProcAttr(supervised bool) *syscall.SysProcAttr { return nil }

// signalGroup can only kill the server itself on systems without process
// groups, and has no gentle terminate signal to send.
func signalGroup(pid int, kill bool) {
	if !kill {
		return
	}
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
