package commands

import (
	"fmt"
	"time"
)

// progress draws a one-line "done/total" counter (or "done" when the total
// is not known) with a spinner and rate on stderr, only when stderr is a
// terminal. On pipes it prints nothing.
type progress struct {
	io    *IOStreams
	total int
	done  int
	start time.Time
	frame int
	shown bool
}

func newProgress(io *IOStreams, total int) *progress {
	return &progress{io: io, total: total, start: time.Now()}
}

// Set updates the count and redraws.
func (p *progress) Set(done int) {
	p.done = done
	if !p.io.ErrTTY {
		return
	}
	frames := `|/-\`
	p.frame = (p.frame + 1) % len(frames)
	rate := float64(p.done) / time.Since(p.start).Seconds()
	count := fmt.Sprint(p.done)
	if p.total > 0 {
		count += fmt.Sprintf("/%d", p.total)
	}
	fmt.Fprintf(p.io.ErrOut, "\r\x1b[K%c %s done (%.1f/s)", frames[p.frame], count, rate)
	p.shown = true
}

// Clear erases the line so other output can be printed.
func (p *progress) Clear() {
	if p.shown {
		fmt.Fprint(p.io.ErrOut, "\r\x1b[K")
		p.shown = false
	}
}

// Done erases the line for good.
func (p *progress) Done() { p.Clear() }
