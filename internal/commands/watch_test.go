package commands

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// frameWriter collects `list --watch` frames (each is one write) and calls
// onFrame after each.
type frameWriter struct {
	frames  []string
	onFrame func(n int)
}

func (fw *frameWriter) Write(p []byte) (int, error) {
	fw.frames = append(fw.frames, string(p))
	fw.onFrame(len(fw.frames))
	return len(p), nil
}

func TestListWatchRedraws(t *testing.T) {
	t.Parallel()
	w := newTermWorld(t)
	w.ok(pipe, "submit", "-q", "--name", "first", "--", "true")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fw := &frameWriter{onFrame: func(n int) {
		switch n {
		case 1:
			w.ok(pipe, "submit", "-q", "--name", "second", "--", "true")
		case 3:
			cancel()
		}
	}}
	var errOut bytes.Buffer
	f := w.factory(term{width: 60, color: true}, fw, &errOut)
	o := &ListOptions{F: f, Limit: 50, Output: formatTable, Watch: true, WatchEvery: 20 * time.Millisecond}
	err := runList(ctx, o)
	require.Equal(t, ExitInterrupted, exitCode(err), "Ctrl-C ends a watch: interrupted, 130")
	require.Len(t, fw.frames, 3)
	for _, fr := range fw.frames {
		require.True(t, strings.HasPrefix(fr, clearScreen), "each frame clears the screen first: %q", fr)
		body := strings.TrimPrefix(fr, clearScreen)
		lines := checkLines(t, body, 60, "watch frame")
		require.Regexp(t, `^\x1b\[2mevery 20ms · \d\d:\d\d:\d\d · Ctrl-C to stop\x1b\[0m$`, lines[0])
		require.Regexp(t, `^ID +STATUS +TYPE +NAME +QUEUE +CREATED$`, lines[1])
	}
	require.NotContains(t, fw.frames[0], "second")
	require.Regexp(t, `(?m)^2 +\x1b\[33mpending\x1b\[0m +exec +second`, fw.frames[1], "redrawn with the new task")
	require.Empty(t, errOut.String())
}

// Through the command line: Ctrl-C (the context's end) exits 130 and
// prints nothing more; rows are cut to the window's height.
func TestListWatchInterrupted(t *testing.T) {
	t.Parallel()
	w := newTermWorld(t)
	for range 5 {
		w.ok(pipe, "submit", "-q", "--", "true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fw := &frameWriter{onFrame: func(int) { cancel() }}
	var errOut bytes.Buffer
	code := Run(ctx, w.factory(term{width: 80, height: 6}, fw, &errOut), []string{"list", "--watch"})
	require.Equal(t, ExitInterrupted, code)
	require.Empty(t, errOut.String())
	require.Len(t, fw.frames, 1)
	lines := checkLines(t, strings.TrimPrefix(fw.frames[0], clearScreen), 80, "watch frame")
	require.Len(t, lines, 5, "fits 6 rows with the cursor's line:\n%s", fw.frames[0])
	require.Regexp(t, `^5 +pending`, lines[2])
	require.Equal(t, "… 3 more (a taller window, or --limit)", lines[4])
}

// --watch needs a terminal, and a table.
func TestListWatchRefused(t *testing.T) {
	t.Parallel()
	w := newTermWorld(t)
	out, errOut, code := w.run(pipe, "list", "--watch")
	require.Equal(t, ExitUsage, code)
	require.Empty(t, out)
	require.Equal(t, "opsctl: --watch needs a terminal; stdout is not one\n", errOut)
	for _, args := range [][]string{{"list", "-w", "-o", "json"}, {"list", "-w", "-q"}} {
		_, errOut, code = w.run(term{width: 80}, args...)
		require.Equal(t, ExitUsage, code, "%v", args)
		require.Equal(t, "opsctl: --watch draws a table: it does not go with --quiet or -o json/jsonl\n", errOut)
	}
}
