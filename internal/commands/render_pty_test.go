package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// Output on a terminal of a given width. The commands run in process with
// IOStreams that pretend a terminal (OutTTY, Color, TermSize); the last
// test runs the real binary under a pseudo-terminal (script(1)) so that
// the width comes from the terminal itself.

// termWorld is one test's opsctl world: a database, a config file with
// MCP servers, and a way to run commands as if on a terminal.
type termWorld struct {
	t   *testing.T
	dir string
	env map[string]string
}

const termConfig = `mcp_servers:
  files:
    command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", /srv/data/projects/with/a/rather/long/path, "2>&1"]
    env:
      GITHUB_TOKEN: ${GITHUB_TOKEN}
      LOG_LEVEL: debug
  remote:
    url: https://mcp.example.com/a/long/endpoint/path/that/goes/on/and/on/mcp
    headers:
      Authorization: Bearer ${REMOTE_TOKEN:-anonymous}
    timeout: 5s
`

func newTermWorld(t *testing.T) *termWorld {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(termConfig), 0o600))
	return &termWorld{t: t, dir: dir, env: map[string]string{
		"HOME":            dir,
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"XDG_DATA_HOME":   filepath.Join(dir, "data"),
		"OPSCTL_DB":       filepath.Join(dir, "opsctl.db"),
	}}
}

// term says how stdout looks: a terminal of a width (and height, 0 for
// unknown), with or without colour, or a pipe (width 0).
type term struct {
	width, height int
	color         bool
}

var pipe = term{}

// factory is a Factory for one command line with stdout as tm says.
func (w *termWorld) factory(tm term, out, errOut io.Writer) *Factory {
	f := &Factory{
		IO: &IOStreams{In: &bytes.Buffer{}, Out: out, ErrOut: errOut,
			OutTTY: tm.width > 0, Color: tm.color,
			TermSize: func() (int, int) { return tm.width, tm.height }},
		Getenv: func(k string) string { return w.env[k] },
		Now:    time.Now,
	}
	f.Registry = newRegistry(f)
	return f
}

func (w *termWorld) run(tm term, args ...string) (string, string, int) {
	w.t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), w.factory(tm, &out, &errOut), args)
	return out.String(), errOut.String(), code
}

func (w *termWorld) ok(tm term, args ...string) string {
	w.t.Helper()
	out, errOut, code := w.run(tm, args...)
	require.Equal(w.t, ExitOK, code, "opsctl %v: %s", args, errOut)
	return out
}

// fill submits tasks that make wide rows: long names and commands, a
// long error, many lines of output, a task scheduled for later, and runs
// them.
func (w *termWorld) fill() {
	w.t.Helper()
	w.ok(pipe, "submit", "-q", "--name", "nightly-backup-of-the-primary-database-to-offsite-storage-with-verification", "--", "echo", "backup")
	w.ok(pipe, "submit", "-q", "--queue", "maintenance-window", "--", "sh", "-c",
		`i=0; while [ $i -lt 30 ]; do echo "line $i of a long output	with a tab and more words to make it wide enough to pass any terminal width"; i=$((i+1)); done; echo "and now an error message that goes on and on, mentioning 2>&1 and many other things, until it is far wider than any window" >&2; exit 3`)
	w.ok(pipe, "submit", "-q", "--", "printf", "-- not an event\\n\\033[31mred\\n")
	w.ok(pipe, "run", "--once")
	w.ok(pipe, "submit", "-q", "--in", "2h", "--name", "later", "--", "true")
}

// checkLines requires every line to fit the width and to end any colour
// it starts: a reset before the newline, never after it.
func checkLines(t *testing.T, out string, width int, what string) []string {
	t.Helper()
	require.True(t, strings.HasSuffix(out, "\n"), "%s: ends with a newline", what)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines {
		plain := ansiSeq.ReplaceAllString(l, "")
		require.LessOrEqual(t, displayWidth(plain), width, "%s at width %d: %q", what, width, plain)
		require.NotContains(t, plain, "\x1b", "%s: only opsctl's colours", what)
		require.False(t, strings.HasPrefix(l, ansiReset), "%s: a reset after a newline: %q", what, l)
		if seqs := ansiSeq.FindAllString(l, -1); len(seqs) > 0 {
			require.Equal(t, ansiReset, seqs[len(seqs)-1], "%s: colour not reset before the newline: %q", what, l)
		}
		require.False(t, strings.HasSuffix(plain, " "), "%s: padding at the end of %q", what, plain)
	}
	return lines
}

// checkTable also requires a header and one line per row, no blank lines.
func checkTable(t *testing.T, out string, width, rows int, what string) []string {
	t.Helper()
	lines := checkLines(t, out, width, what)
	require.Len(t, lines, rows+1, "%s at width %d: a header and %d rows:\n%s", what, width, rows, out)
	for _, l := range lines {
		require.NotEmpty(t, strings.TrimSpace(l), "%s: a blank line:\n%s", what, out)
	}
	return lines
}

func TestRenderFitsTerminal(t *testing.T) {
	t.Parallel()
	w := newTermWorld(t)
	w.fill()
	for _, width := range []int{80, 160} {
		for _, color := range []bool{false, true} {
			tm := term{width: width, color: color}
			lines := checkTable(t, w.ok(tm, "list"), width, 4, "list")
			require.Regexp(t, `^ID +STATUS +TYPE +NAME +QUEUE +CREATED$`, lines[0])
			require.Contains(t, lines[1], "pending (in 2h)")
			require.Regexp(t, `^1 +completed +exec +nightly-backup-of-the-`, ansiSeq.ReplaceAllString(lines[4], ""))

			lines = checkTable(t, w.ok(tm, "list", "-o", "wide"), width, 4, "list -o wide")
			if width >= 160 {
				require.Regexp(t, `^ID +STATUS +TYPE +NAME +QUEUE +CREATED +PRI +ATTEMPTS +STARTED +FINISHED +WORKER +ERROR$`, lines[0])
			} else {
				require.Regexp(t, `^ID +STATUS +TYPE +NAME +`, lines[0])
			}
			if width >= 160 {
				require.Regexp(t, `exit code 3: and now`, lines[3])
			}

			// Settings and the two servers, one row each.
			out := w.ok(tm, "--config", filepath.Join(w.dir, "config.yaml"), "config")
			lines = checkTable(t, out, width, strings.Count(w.ok(pipe, "--config", filepath.Join(w.dir, "config.yaml"), "config"), "\n"), "config")
			require.Regexp(t, `^mcp_servers\.files +\{"name":"files",.*… +file `, lines[len(lines)-2])
			require.Regexp(t, `^mcp_servers\.remote +\{"name":"remote",`, lines[len(lines)-1])

			out = w.ok(tm, "--config", filepath.Join(w.dir, "config.yaml"), "mcp", "list")
			checkTable(t, out, width, 2, "mcp list")

			for id := 1; id <= 4; id++ {
				out := w.ok(tm, "show", "--events", "20", strconv.Itoa(id))
				checkLines(t, out, width, "show "+strconv.Itoa(id))
				out = w.ok(tm, "logs", strconv.Itoa(id))
				require.NotContains(t, ansiSeq.ReplaceAllString(out, ""), "\x1b")
			}
		}
	}
	// Piped, nothing is cut: the whole name, command and error, and whole
	// MCP server configs, tab-separated.
	out := w.ok(pipe, "list", "-o", "wide")
	require.Contains(t, out, "\tnightly-backup-of-the-primary-database-to-offsite-storage-with-verification\t")
	require.Contains(t, out, "far wider than any window\t-\n") // the cost column is last
	require.NotContains(t, out, "…")
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		require.Len(t, strings.Split(l, "\t"), 13, "%q", l)
	}
	out = w.ok(pipe, "--config", filepath.Join(w.dir, "config.yaml"), "config")
	require.Contains(t, out, `"args":["-y","@modelcontextprotocol/server-filesystem","/srv/data/projects/with/a/rather/long/path","2>&1"]`)
	require.Contains(t, out, "\"url\":\"https://mcp.example.com/a/long/endpoint/path/that/goes/on/and/on/mcp\"")
}

// The old layout, kept as a reminder of what went wrong: tablewriter padded
// every cell, the last one too, so each line of `list -o wide` was 169
// columns, error column included, and on a 160-column terminal the nine
// extra (blank) columns wrapped into a blank-looking line after each row.
func TestListWideNoBlankLines(t *testing.T) {
	t.Parallel()
	w := newTermWorld(t)
	w.fill()
	out := w.ok(term{width: 160}, "list", "-o", "wide")
	for _, l := range strings.Split(out, "\n") {
		require.False(t, strings.HasSuffix(l, " "), "%q", l)
		require.LessOrEqual(t, displayWidth(l), 160)
	}
}

var localTime = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`

func TestShowOnTerminal(t *testing.T) {
	t.Parallel()
	w := newTermWorld(t)
	w.fill()
	tm := term{width: 100, color: true}
	out := w.ok(tm, "show", "2")
	require.Regexp(t, `(?m)^Created: +`+localTime+` \((just now|\d+s ago)\)$`, out)
	require.Regexp(t, `(?m)^Finished: +`+localTime+` \(`, out)
	require.Contains(t, out, "Status:       \x1b[31mfailed\x1b[0m\n", "the reset before the newline")
	// The error is wrapped, not cut.
	require.Regexp(t, `(?m)^Error: +exit code 3: and now an error message`, out)
	require.Contains(t, ansiSeq.ReplaceAllString(out, ""), "until it is far wider than any window")
	// A big stdout is text: indented lines, tabs expanded, cut to fit.
	require.Regexp(t, `\n    "stdout": \|\n      line 0 of a long output +with a tab`, out)
	require.Regexp(t, `(?m)^      line 29 of a long output +with a tab and more words .*…$`, out)
	require.NotContains(t, out, `line 0 of a long output\twith`)

	// Piped: RFC 3339 times, lines whole, the text block too.
	out = w.ok(pipe, "show", "2")
	require.Regexp(t, `(?m)^Created: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, out)
	require.Contains(t, out, "\n      line 29 of a long output\twith a tab and more words to make it wide enough to pass any terminal width\n  }\n")
	require.Contains(t, out, `"stderr": "and now an error message that goes on and on, mentioning 2>&1 and`)

	// A task waiting for its time: when it runs, in full.
	out = w.ok(tm, "show", "4")
	require.Regexp(t, `(?m)^Run after: +`+localTime+` \(in 2h\)$`, out)
	require.Contains(t, out, "Status:       \x1b[33mpending\x1b[0m\n")

	// Escape sequences in output are shown, not obeyed.
	out = w.ok(tm, "show", "3")
	require.Contains(t, out, `\x1b[31mred`)
}

func TestShowJSONBlock(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	var v any
	require.NoError(t, json.Unmarshal([]byte(`{"exit_code":0,"stdout":"a\nb\n","stderr":"one line\n","n":[1,"x\ny"],"e":{}}`), &v))
	taskio.WriteJSONText(&b, v, "")
	require.Equal(t, `{
  "e": {},
  "exit_code": 0,
  "n": [
    1,
    |
      x
      y
  ],
  "stderr": "one line\n",
  "stdout": |
    a
    b
}`, b.String())
}

// list right after `submit --in 2h` says "in 2h" (rounded, not down to 1h),
// on a terminal in the status column; piped, the status is "pending".
func TestListScheduled(t *testing.T) {
	t.Parallel()
	w := newTermWorld(t)
	w.ok(pipe, "submit", "-q", "--in", "2h", "--", "true")
	w.ok(pipe, "submit", "-q", "--in", "150s", "--", "true")
	out := w.ok(term{width: 80}, "list")
	require.Regexp(t, `(?m)^1 +pending \(in 2h\) +exec +true`, out)
	require.Regexp(t, `(?m)^2 +pending \(in 2m\) +exec +true`, out)
	require.Regexp(t, `\A2\tpending\texec\ttrue\t`, w.ok(pipe, "list"))
}

func TestListQuiet(t *testing.T) {
	t.Parallel()
	w := newTermWorld(t)
	for range 3 {
		w.ok(pipe, "submit", "-q", "--", "true")
	}
	require.Equal(t, "3\n2\n1\n", w.ok(pipe, "list", "-q"))
	require.Equal(t, "3\n2\n1\n", w.ok(term{width: 80, color: true}, "list", "--quiet"), "no table on a terminal either")
	require.Equal(t, "3\n", w.ok(pipe, "list", "-q", "--limit", "1"))
	_, errOut, code := w.run(pipe, "list", "-q", "-o", "json")
	require.Equal(t, ExitUsage, code)
	require.Equal(t, "opsctl: --quiet prints ids only: it does not go with -o json\n", errOut)
}

func logsEvent(id int64, kind string, data map[string]any) db.Event {
	b, _ := json.Marshal(data)
	return db.Event{ID: id, TaskID: 1, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Kind: kind, Data: b}
}

// On a terminal with colour, stderr output is red and event lines dim,
// each colour reset before its newline; an output line starting with
// "-- " cannot pass for an event line. Piped, the bytes are as written.
func TestLogsMarksOnTerminal(t *testing.T) {
	t.Parallel()
	evs := []db.Event{
		logsEvent(1, "stdout", map[string]any{"text": "-- not an event\nout\n-- part"}),
		logsEvent(2, "stdout", map[string]any{"text": "ial -- x\n"}),
		logsEvent(3, "stderr", map[string]any{"text": "warn 1\nwarn 2\n\n-- e"}),
		logsEvent(4, "status", map[string]any{"from": "running", "to": "completed"}),
	}
	print := func(tty, color bool) string {
		var out bytes.Buffer
		p := &eventPrinter{w: &out, format: "text", tty: tty, color: color}
		for _, e := range evs {
			require.NoError(t, p.print(e))
		}
		require.NoError(t, p.end())
		return out.String()
	}
	const status = "-- 2026-01-02T03:04:05Z status running -> completed\n"
	require.Equal(t, "-- not an event\nout\n-- partial -- x\nwarn 1\nwarn 2\n\n-- e\n"+status, print(false, false), "piped: byte for byte")
	require.Equal(t, `\x2d- not an event`+"\nout\n"+`\x2d- partial -- x`+"\nwarn 1\nwarn 2\n\n"+`\x2d- e`+"\n"+status, print(true, false))
	require.Equal(t, `\x2d- not an event`+"\nout\n"+`\x2d- partial -- x`+"\n"+
		"\x1b[31mwarn 1\x1b[0m\n\x1b[31mwarn 2\x1b[0m\n\n\x1b[31m\\x2d- e\x1b[0m\n"+
		"\x1b[2m-- 2026-01-02T03:04:05Z status running -> completed\x1b[0m\n", print(true, true))

	// A mark split across chunks is caught too.
	evs = []db.Event{
		logsEvent(1, "stdout", map[string]any{"text": "ab\n-"}),
		logsEvent(2, "stdout", map[string]any{"text": "- x\n--"}),
		logsEvent(3, "stderr", map[string]any{"text": " y\n"}),
	}
	require.Equal(t, "ab\n-- x\n-- y\n", print(false, false))
	require.Equal(t, "ab\n-\\x2d x\n--\\x20y\n", print(true, false))
}

// The real binary under a pseudo-terminal of a given size: the width comes
// from the terminal (TIOCGWINSZ), not from a test's IOStreams.
func TestRenderUnderRealPTY(t *testing.T) {
	t.Parallel()
	// script(1) comes with util-linux (Debian's bsdutils, an essential
	// package): a machine without it cannot run this suite.
	_, err := exec.LookPath("script")
	require.NoError(t, err, "script(1) is needed")
	w := newTermWorld(t)
	w.fill()
	env := os.Environ()
	for k, v := range w.env {
		env = append(env, k+"="+v)
	}
	env = append(env, "GORACE=atexit_sleep_ms=0", "COLUMNS=", "NO_COLOR=", "TERM=xterm")
	for _, width := range []int{80, 160} {
		for _, args := range []string{"list", "list -o wide", "--config config.yaml config", "show 2"} {
			cmd := exec.Command("script", "-qec", "stty cols "+strconv.Itoa(width)+" rows 40; opsctl "+args, "/dev/null")
			cmd.Env, cmd.Dir = env, w.dir
			raw, err := cmd.CombinedOutput()
			require.NoError(t, err, string(raw))
			out := strings.ReplaceAll(string(raw), "\r\n", "\n")
			lines := checkLines(t, out, width, args)
			if strings.HasPrefix(args, "list") || strings.HasPrefix(args, "show") {
				require.Contains(t, out, "\x1b[", "colours on a terminal")
			}
			for _, l := range lines {
				require.NotEmpty(t, strings.TrimSpace(l), "%s: a blank line:\n%s", args, out)
			}
			if args == "list -o wide" && width == 80 {
				require.Regexp(t, regexp.MustCompile(`…`), out, "cut to fit")
			}
		}
	}
}
