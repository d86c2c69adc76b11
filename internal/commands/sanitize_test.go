package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

func TestSanitizeTerminal(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"plain text\n\tindented\n", "plain text\n\tindented\n"},
		{"héllo €😀 \\x1b stays", "héllo €😀 \\x1b stays"},
		{"\x1b[2J\x1b[Hclear", `\x1b[2J\x1b[Hclear`},
		{"\x1b]0;title\x07", `\x1b]0;title\a`},
		{"progress 10%\rprogress 20%\r\n", "progress 10%\\rprogress 20%\\r\n"},
		{"a\bb\fc\vd\x00e\x7f", `a\bb\fc\vd\x00e\x7f`},
		{"\u009b31m C1 CSI, \u0085 NEL, \u00a0 kept", `\u009b31m C1 CSI, \u0085 NEL, ` + "\u00a0 kept"},
		{"bad \xff\xfe utf8 \xe2\x82", `bad \xff\xfe utf8 \xe2\x82`},
		{"\xc2\x9b as bytes", `\u009b as bytes`},
		{"U+FFFD \ufffd is valid", "U+FFFD \ufffd is valid"},
	} {
		require.Equal(t, c.want, sanitizeTerminal(c.in), "%q", c.in)
	}
	// Nothing a terminal acts on survives, whatever the bytes.
	var all []byte
	for b := range 256 {
		all = append(all, byte(b), 'x', 0xc2, byte(b))
	}
	out := sanitizeTerminal(string(all))
	for i := range len(out) {
		c := out[i]
		require.False(t, c < 0x20 && c != '\n' && c != '\t' || c == 0x7f, "control byte %#x at %d", c, i)
	}
	for _, r := range out {
		require.False(t, r >= 0x80 && r <= 0x9f, "C1 control %U", r)
	}
}

func outputEvent(id int64, kind, text string) db.Event {
	data, _ := json.Marshal(map[string]string{"text": text})
	return db.Event{ID: id, TaskID: 1, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Kind: kind, Data: data}
}

func statusEvent(id int64, from, to string) db.Event {
	data, _ := json.Marshal(map[string]string{"from": from, "to": to})
	return db.Event{ID: id, TaskID: 1, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Kind: db.EventStatus, Data: data}
}

func printEvents(t *testing.T, tty bool, format string, evs ...db.Event) string {
	t.Helper()
	var out bytes.Buffer
	p := &eventPrinter{w: &out, format: format, tty: tty}
	for _, e := range evs {
		require.NoError(t, p.print(e))
	}
	require.NoError(t, p.end())
	return out.String()
}

func TestLogsPrintsOutputAsWritten(t *testing.T) {
	t.Parallel()
	const status = "-- 2026-01-02T03:04:05Z status running -> completed\n"
	for _, c := range []struct {
		name string
		evs  []db.Event
		want string
	}{
		{"chunks", []db.Event{
			outputEvent(1, "stdout", "a\nb\n"), outputEvent(2, "stdout", "c\nd"),
			outputEvent(3, "stdout", "ef\n"), statusEvent(4, "running", "completed"),
		}, "a\nb\nc\ndef\n" + status},
		{"partial last line", []db.Event{
			outputEvent(1, "stdout", "a\nb\nc"), statusEvent(2, "running", "completed"),
		}, "a\nb\nc\n" + status},
		{"a line per event (older runners)", []db.Event{
			outputEvent(1, "stdout", "one\n"), outputEvent(2, "stderr", "two\n"), outputEvent(3, "stdout", "three\n"),
		}, "one\ntwo\nthree\n"},
		{"streams interleaved mid-line", []db.Event{
			outputEvent(1, "stdout", "progress"), outputEvent(2, "stderr", "warn\n"), outputEvent(3, "stdout", " done\n"),
		}, "progresswarn\n done\n"},
		{"no newline at the end", []db.Event{outputEvent(1, "stdout", "x\ny")}, "x\ny"},
		{"empty text", []db.Event{outputEvent(1, "stdout", ""), statusEvent(2, "running", "completed")}, status},
		{"raw bytes when piped", []db.Event{outputEvent(1, "stdout", "\x1b[2J\r\n")}, "\x1b[2J\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, printEvents(t, false, "text", c.evs...))
		})
	}
}

func TestLogsOnTerminal(t *testing.T) {
	t.Parallel()
	got := printEvents(t, true, "text",
		outputEvent(1, "stdout", "\x1b[2Jhi\rthere\n"), outputEvent(2, "stderr", "\x1b]0;pwned\x07"),
		statusEvent(3, "running", "completed\x1b[31m"), outputEvent(4, "stdout", "no newline"))
	require.Equal(t, `\x1b[2Jhi\rthere`+"\n"+`\x1b]0;pwned\a`+"\n"+
		`-- 2026-01-02T03:04:05Z status running -> completed\x1b[31m`+"\n"+
		"no newline\n", got, "escaped, and the last line ended")

	// JSON lines are the same on a terminal: the encoder escapes controls.
	evs := []db.Event{outputEvent(1, "stdout", "\x1b[2J\x7f\u009b")}
	require.Equal(t, printEvents(t, false, formatJSONL, evs...), printEvents(t, true, formatJSONL, evs...))
}

func TestShowEventLine(t *testing.T) {
	t.Parallel()
	require.Equal(t, "stdout: hello", showEventLine(outputEvent(1, "stdout", "hello\n")))
	require.Equal(t, "stderr: part", showEventLine(outputEvent(1, "stderr", "part")))
	require.Equal(t, "stdout: 3 lines, last: c", showEventLine(outputEvent(1, "stdout", "a\nb\nc\n")))
	require.Equal(t, "stdout: 2 lines, last: partial", showEventLine(outputEvent(1, "stdout", "a\npartial")))
	require.Equal(t, "status running -> completed", showEventLine(statusEvent(1, "running", "completed")))
}

// logs and show through the command, with a real runner, on a (pretended)
// terminal and on a pipe.
func TestLogsShowSanitizeThroughCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{
		"HOME":            dir,
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"XDG_DATA_HOME":   filepath.Join(dir, "data"),
		"OPSCTL_DB":       filepath.Join(dir, "opsctl.db"),
		"NO_COLOR":        "1",
	}
	run := func(tty bool, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		f := &Factory{
			IO:     &IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut, OutTTY: tty},
			Getenv: func(k string) string { return env[k] },
			Now:    time.Now,
		}
		f.Registry = newRegistry(f)
		code := Run(context.Background(), f, args)
		require.Equal(t, ExitOK, code, "opsctl %v: %s", args, errOut.String())
		return out.String()
	}
	run(false, "submit", "-q", "--", "sh", "-c",
		`printf 'ok \033]0;pwned\007\033[2J\rX\n'; printf '\033[31mboom\177\302\233' >&2; exit 3`)
	run(false, "run", "--once")

	piped := run(false, "logs", "1")
	require.Contains(t, piped, "ok \x1b]0;pwned\x07\x1b[2J\rX\n", "piped: raw bytes")
	require.Contains(t, piped, "\x1b[31mboom\x7f\u009b")

	tty := run(true, "logs", "1")
	require.Contains(t, tty, `ok \x1b]0;pwned\a\x1b[2J\rX`+"\n")
	require.Contains(t, tty, `\x1b[31mboom\x7f\u009b`)
	requireNoControls(t, tty)

	show := run(true, "show", "1")
	require.Contains(t, show, `exit code 3: \x1b[31mboom\x7f\u009b`, "the error holds the end of stderr")
	requireNoControls(t, show)
	require.Contains(t, run(false, "show", "1"), "exit code 3: \x1b[31mboom")
	require.Equal(t, run(false, "logs", "-o", "jsonl", "1"), run(true, "logs", "-o", "jsonl", "1"))
	require.Equal(t, run(false, "show", "-o", "json", "1"), run(true, "show", "-o", "json", "1"))
}

func requireNoControls(t *testing.T, s string) {
	t.Helper()
	for i, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) {
			t.Fatalf("control %U at %d in:\n%s", r, i, strings.ReplaceAll(s, "\x1b", "<ESC>"))
		}
	}
}
