package commands

import (
	"io"
	"os"
	"strconv"

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
	// TermSize reports the size of the terminal on stdout in columns and
	// rows, 0 where it is not known. It is asked at each use, so a redraw
	// follows a resized window. Nil: not known. Tests set it to pretend a
	// terminal of some width.
	TermSize func() (width, height int)
}

// defaultWidth is assumed when a terminal does not tell its width.
const defaultWidth = 80

// Width is the width of the terminal on stdout in columns: what TermSize
// says, else 80.
func (s *IOStreams) Width() int {
	if s.TermSize != nil {
		if w, _ := s.TermSize(); w > 0 {
			return w
		}
	}
	return defaultWidth
}

// Height is the number of rows of the terminal on stdout, 0 when unknown.
func (s *IOStreams) Height() int {
	if s.TermSize != nil {
		if _, h := s.TermSize(); h > 0 {
			return h
		}
	}
	return 0
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
		TermSize: func() (int, int) {
			w, h := terminalSize(os.Stdout)
			if w <= 0 {
				// No answer from the terminal (or not a terminal): the
				// shell's COLUMNS, when it exports it.
				w, _ = strconv.Atoi(getenv("COLUMNS"))
			}
			return w, h
		},
	}
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
