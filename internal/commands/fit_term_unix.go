//go:build unix

package commands

import (
	"os"

	"golang.org/x/sys/unix"
)

// terminalSize asks the terminal f is connected to for its size in columns
// and rows; 0, 0 when f is not a terminal or does not say.
func terminalSize(f *os.File) (width, height int) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0
	}
	return int(ws.Col), int(ws.Row)
}
