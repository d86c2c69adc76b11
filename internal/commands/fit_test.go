package commands

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCutToWidth(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		w    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 10, "hello"},
		{"hello world", 8, "hello w…"},
		{"hello world", 7, "hello…"}, // no space before the mark
		{"hello", 1, "…"},
		{"hello", 0, ""},
		{"日本語のテキスト", 7, "日本語…"}, // wide runes take two columns
		{"héllo wörld", 6, "héllo…"},
	} {
		got := cutToWidth(c.in, c.w)
		require.Equal(t, c.want, got, "cutToWidth(%q, %d)", c.in, c.w)
		require.LessOrEqual(t, displayWidth(got), max(c.w, 0))
	}
}

func TestWrapToWidth(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"exit code 3:", "something", "went wrong"}, wrapToWidth("exit code 3: something went wrong", 12))
	require.Equal(t, []string{"aaaa", "aaaa", "aa b"}, wrapToWidth("aaaaaaaaaa b", 4))
	require.Equal(t, []string{"one", "two"}, wrapToWidth("one\ntwo", 20))
}

func TestExpandTabs(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a       b", expandTabs("a\tb"))
	require.Equal(t, "12345678        x\n        y", expandTabs("12345678\tx\n\ty"))
}

func TestFitWidths(t *testing.T) {
	t.Parallel()
	flex := func(cols ...int) []bool {
		f := make([]bool, 4)
		for _, c := range cols {
			f[c] = true
		}
		return f
	}
	floors := []int{2, 6, 4, 7}
	// Everything fits: natural widths.
	require.Equal(t, []int{3, 9, 20, 7}, fitWidths([]int{3, 9, 20, 7}, floors, flex(2), 2, 80))
	// The flexible column takes what is left: 40 - 3*2 gaps - 19.
	require.Equal(t, []int{3, 9, 15, 7}, fitWidths([]int{3, 9, 50, 7}, floors, flex(2), 2, 40))
	// Two flexible columns: the narrow one gets all it needs, the wide one
	// the rest.
	require.Equal(t, []int{3, 9, 10, 22}, fitWidths([]int{3, 9, 10, 90}, floors, flex(2, 3), 2, 50))
	// Both wide: equal shares.
	require.Equal(t, []int{3, 9, 16, 16}, fitWidths([]int{3, 9, 90, 90}, floors, flex(2, 3), 2, 50))
	// So narrow that the flexible column would get less than its floor:
	// the widest other column is cut, down to its header's width at most.
	require.Equal(t, []int{3, 8, 12, 7}, fitWidths([]int{3, 30, 50, 7}, floors, flex(2), 2, 36))
	// Narrower still: every column is cut, headers too.
	got := fitWidths([]int{3, 30, 50, 7}, floors, flex(2), 2, 24)
	require.Equal(t, 24, sum(got)+6, "%v", got)
}

func TestCapWidths(t *testing.T) {
	t.Parallel()
	require.Equal(t, []int{2, 5, 5}, capWidths([]int{2, 10, 10}, nil, 12))
	require.Equal(t, []int{2, 6, 5}, capWidths([]int{2, 10, 10}, nil, 13), "the rest goes left to right")
	require.Equal(t, []int{1, 1, 1}, capWidths([]int{5, 5, 5}, nil, 1), "never below one column")
	require.Equal(t, []int{2, 3}, capWidths([]int{2, 3}, nil, 100))
	require.Equal(t, []int{2, 2, 4}, capWidths([]int{2, 10, 10}, []int{1, 1, 4}, 8), "floors")
	require.Equal(t, []int{2, 6, 6}, capWidths([]int{2, 10, 10}, []int{2, 6, 6}, 5), "over the budget: the floors")
}

var ansiSeq = regexp.MustCompile("\x1b\\[[0-9;]*m")

// renderTable prints a table as a terminal of the given width would get it.
func renderTable(t *testing.T, tty, color bool, width int, fill func(*tablePrinter)) string {
	t.Helper()
	var out bytes.Buffer
	io := &IOStreams{Out: &out, OutTTY: tty, Color: color, TermSize: func() (int, int) { return width, 0 }}
	tp := newTablePrinter(io, "ID", "Status", "Name", "Created")
	fill(tp)
	require.NoError(t, tp.Render())
	return out.String()
}

func TestTablePrinterFitsTerminal(t *testing.T) {
	t.Parallel()
	long := "sh -c " + strings.Repeat("echo something long; ", 5)
	fill := func(tp *tablePrinter) {
		tp.Flex(2).Paint(1, func(_ int, c string) string { return paint(statusColor(strings.Fields(c)[0]), c) })
		tp.Row("1", "completed", "short", "5m ago")
		tp.Row("22", "pending (in 2h)", long, "just now")
		tp.Row("3", "failed", "name\twith\ttabs\nand a newline \x1b[2J", "1h ago")
	}
	for _, width := range []int{40, 80, 160} {
		for _, color := range []bool{false, true} {
			out := renderTable(t, true, color, width, fill)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			require.Len(t, lines, 4, "a header and three rows, no blank lines:\n%s", out)
			require.Regexp(t, `^ID +STATUS +NAME +CREATED$`, lines[0])
			for _, l := range lines {
				plain := ansiSeq.ReplaceAllString(l, "")
				require.LessOrEqual(t, displayWidth(plain), width, "%q", plain)
				require.False(t, strings.HasSuffix(plain, " "), "no padding at the end: %q", l)
				require.NotContains(t, l, "\t")
			}
			if width >= 80 {
				require.Contains(t, out, `name with tabs and a newline \x1b[2J`, "one line, sanitised")
			}
			require.NotContains(t, ansiSeq.ReplaceAllString(out, ""), "\x1b", "no escape from the data")
			if width < 100 {
				require.Contains(t, lines[2], "…", "the long command is cut")
			} else {
				require.NotContains(t, out, "…")
			}
			if color && width >= 80 {
				require.Contains(t, lines[1], "\x1b[32mcompleted\x1b[0m")
				require.Contains(t, lines[2], "\x1b[33mpending (in 2h)\x1b[0m")
			} else if !color {
				require.NotContains(t, out, "\x1b")
			}
		}
	}
}

// Piped, rows are tab-separated, with no header, and nothing is cut.
func TestTablePrinterPiped(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 500)
	out := renderTable(t, false, false, 80, func(tp *tablePrinter) {
		tp.Row("1", "completed", long, "2026-01-02T03:04:05Z")
		tp.Row("2", "failed", "a\tb\nc", "2026-01-02T03:04:05Z")
	})
	require.Equal(t, "1\tcompleted\t"+long+"\t2026-01-02T03:04:05Z\n2\tfailed\ta b c\t2026-01-02T03:04:05Z\n", out)
}

// The cause of the blank line after each row of `list -o wide`:
// tablewriter pads the last column too, so every line was as wide as the
// widest, plus two spaces; a line a few spaces wider than the window
// wraps, and the wrapped part is blank.
func TestTrimLineEnd(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a  b", trimLineEnd("a  b    "))
	require.Equal(t, "a  \x1b[31mb\x1b[0m", trimLineEnd("a  \x1b[31mb\x1b[0m   "))
	require.Equal(t, "a  \x1b[31mb\x1b[0m", trimLineEnd("a  \x1b[31mb\x1b[0m   \x1b[0m"))
}

func TestEncodeJSONKeepsHTML(t *testing.T) {
	t.Parallel()
	b, err := encodeJSON(map[string]any{"cmd": "a 2>&1 <in"}, "")
	require.NoError(t, err)
	require.Equal(t, `{"cmd":"a 2>&1 <in"}`+"\n", string(b))
	// Raw JSON stored escaped by encoding/json elsewhere is unescaped too;
	// an escaped backslash before "u003e" is left alone.
	raw := []byte(`{"a":"x \u003e\u0026 y","b":"\\u003e","c":"\u003C","d":"\"\u0026"}`)
	require.Equal(t, `{"a":"x >& y","b":"\\u003e","c":"<","d":"\"&"}`, string(unescapeHTML(raw)))
	require.Equal(t, `"2>&1"`, marshalJSON("2>&1"))
}

func TestSchemaArgs(t *testing.T) {
	t.Parallel()
	require.Equal(t, "path*, encoding", schemaArgs([]byte(`{"type":"object","properties":{"encoding":{"type":"string"},"path":{"type":"string"}},"required":["path"]}`)))
	require.Equal(t, "b*, a, c", schemaArgs([]byte(`{"properties":{"a":{},"b":{},"c":{}},"required":["b"]}`)))
	require.Equal(t, "-", schemaArgs([]byte(`{"type":"object"}`)))
	require.Equal(t, "-", schemaArgs([]byte(`not json`)))
}
