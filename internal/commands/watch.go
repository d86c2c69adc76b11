package commands

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// watchEvery is how often `list --watch` redraws.
const watchEvery = 2 * time.Second

// clearScreen moves the cursor home and clears the screen.
const clearScreen = "\x1b[H\x1b[2J"

// watchList redraws the list on the terminal until the command is
// interrupted (Ctrl-C): each frame clears the screen and draws a title
// line and the table, written at once so the screen does not flicker. The
// end by Ctrl-C is the exit-code table's "interrupted", 130, with nothing
// more printed; a store error ends it like any command.
func watchList(ctx context.Context, o *ListOptions, s db.Store, f db.Filter) error {
	every := o.WatchEvery
	if every <= 0 {
		every = watchEvery
	}
	io := o.F.IO
	for {
		now := o.F.Now()
		ts, err := listTasks(ctx, o, s, f, now)
		if ctx.Err() != nil {
			return silentExit(ExitInterrupted)
		}
		if err != nil {
			return err
		}
		frame, err := watchFrame(io, ts, now, every, o.Output == formatWide)
		if err != nil {
			return err
		}
		if _, err := io.Out.Write(frame); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return silentExit(ExitInterrupted)
		case <-time.After(every):
		}
	}
}

// watchFrame is one screen of `list --watch`: clear, a title, the table.
// On a terminal that tells its height, the rows are cut to fit it, with a
// last line saying how many were left out.
func watchFrame(io *IOStreams, ts []db.Task, now time.Time, every time.Duration, wide bool) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(clearScreen)
	title := fmt.Sprintf("every %s · %s · Ctrl-C to stop", every, now.Local().Format(time.TimeOnly))
	title = cutToWidth(title, io.Width())
	if io.Color {
		title = paint(ansiDim, title)
	}
	b.WriteString(title + "\n")
	if len(ts) == 0 {
		b.WriteString("no tasks\n")
		return b.Bytes(), nil
	}
	// The title, the header and the line after the last row (where the
	// cursor rests) take three rows; past that the screen would scroll.
	more := 0
	if h := io.Height(); h > 0 && len(ts) > h-3 {
		keep := max(h-4, 1)
		more = len(ts) - keep
		ts = ts[:keep]
	}
	frameIO := *io
	frameIO.Out = &b
	if err := taskTable(&frameIO, ts, nil, now, wide).Render(); err != nil {
		return nil, err
	}
	if more > 0 {
		fmt.Fprintf(&b, "… %d more (a taller window, or --limit)\n", more)
	}
	return b.Bytes(), nil
}
