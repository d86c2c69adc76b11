package commands

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams are a command's standard streams and what they are connected to.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY and ErrTTY say whether stdout and stderr are terminals: tables,
	// relative times and progress go to terminals only.
	OutTTY bool
	ErrTTY bool
	// Color allows ANSI colours on stdout (a terminal and NO_COLOR unset).
	Color bool
}

// SystemIO returns the process's streams.
func SystemIO(getenv func(string) string) *IOStreams {
	outTTY := isTerminal(os.Stdout)
	return &IOStreams{
		In:     os.Stdin,
		Out:    os.Stdout,
		ErrOut: os.Stderr,
		OutTTY: outTTY,
		ErrTTY: isTerminal(os.Stderr),
		Color:  outTTY && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb",
	}
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
