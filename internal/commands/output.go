package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Output formats for -o.
const (
	formatTable = "table"
	formatWide  = "wide"
	formatJSON  = "json"
	formatJSONL = "jsonl"
)

func checkFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return usageErrorf("unknown output format %q (want %s)", format, strings.Join(allowed, ", "))
}

// columnGap is the space between the columns of a terminal table.
const columnGap = 2

// tablePrinter is the one adapter over tablewriter.
//
// On a terminal it prints a header and aligned columns that fit the
// window: each column gets its natural width, and when the line would be
// wider than the terminal the flexible columns (Flex; by default the last)
// share what is left, cut with "…". Text is made safe for the terminal
// (sanitizeTerminal) and kept to one line; colours (Paint) are added after
// the cutting, so a cut never splits an escape sequence and every colour
// ends on its own line.
//
// On a pipe it prints tab-separated rows with no header and nothing cut,
// so `cut -f1` and `awk -F'\t'` work and get whole values; a tab or
// newline inside a value becomes a space.
type tablePrinter struct {
	io    *IOStreams
	head  []string
	rows  [][]string
	flex  []int
	paint map[int]func(row int, cell string) string
}

func newTablePrinter(io *IOStreams, header ...string) *tablePrinter {
	return &tablePrinter{io: io, head: header}
}

// Row adds a row of plain text cells.
func (t *tablePrinter) Row(cells ...string) { t.rows = append(t.rows, cells) }

// Flex names the columns (by index) that give way when a terminal is too
// narrow: free text such as names, commands, errors and descriptions.
func (t *tablePrinter) Flex(cols ...int) *tablePrinter {
	t.flex = cols
	return t
}

// Paint colours a column on a terminal with colour on: f gets the row's
// index and its cell as it will be shown (sanitised and cut) and returns
// it with escape sequences around it.
func (t *tablePrinter) Paint(col int, f func(row int, cell string) string) *tablePrinter {
	if t.paint == nil {
		t.paint = map[int]func(int, string) string{}
	}
	t.paint[col] = f
	return t
}

var pipeCell = strings.NewReplacer("\t", " ", "\n", " ")

func (t *tablePrinter) Render() error {
	if !t.io.OutTTY {
		var b bytes.Buffer
		for _, r := range t.rows {
			for i, c := range r {
				if i > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(pipeCell.Replace(c))
			}
			b.WriteByte('\n')
		}
		_, err := t.io.Out.Write(b.Bytes())
		return err
	}
	return t.renderTerminal()
}

func (t *tablePrinter) renderTerminal() error {
	n := len(t.head)
	for _, r := range t.rows {
		n = max(n, len(r))
	}
	if n == 0 {
		return nil
	}
	width := t.io.Width()
	head := make([]string, n)
	for i := range head {
		if i < len(t.head) {
			head[i] = tw.Title(terminalCell(t.head[i], width))
		}
	}
	rows := make([][]string, len(t.rows))
	for i, r := range t.rows {
		rows[i] = make([]string, n)
		for j := range n {
			if j < len(r) {
				rows[i][j] = terminalCell(r[j], width)
			}
		}
	}
	natural := make([]int, n)
	for j := range n {
		natural[j] = displayWidth(head[j])
		for _, r := range rows {
			natural[j] = max(natural[j], displayWidth(r[j]))
		}
	}
	flex := make([]bool, n)
	if len(t.flex) == 0 {
		flex[n-1] = true
	}
	for _, j := range t.flex {
		if j >= 0 && j < n {
			flex[j] = true
		}
	}
	floors := make([]int, n)
	for j := range n {
		floors[j] = displayWidth(head[j])
	}
	widths := fitWidths(natural, floors, flex, columnGap, width)
	for j := range n {
		head[j] = cutToWidth(head[j], widths[j])
		for i, r := range rows {
			r[j] = cutToWidth(r[j], widths[j])
			if f := t.paint[j]; f != nil && t.io.Color && r[j] != "" {
				r[j] = f(i, r[j])
			}
		}
	}
	var buf bytes.Buffer
	tbl := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		// The cells are laid out already: tablewriter only aligns them, and
		// must not reformat, wrap or trim anything.
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: strings.Repeat(" ", columnGap), Overwrite: true}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	tbl.Header(head)
	if err := tbl.Bulk(rows); err != nil {
		return err
	}
	if err := tbl.Render(); err != nil {
		return err
	}
	// tablewriter pads every cell, the last one too, to its column's width
	// plus the gap: lines end in spaces, and a line as wide as the window
	// plus a few spaces wraps into what looks like a blank line after each
	// row. The padding at the end of a line goes.
	var out strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		out.WriteString(trimLineEnd(doubleReset.ReplaceAllString(strings.TrimSuffix(line, "\n"), "$1")))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(t.io.Out, out.String())
	return err
}

// terminalCell is a cell as a terminal shows it: safe (sanitizeTerminal),
// on one line with runs of white space as one space, and no longer than
// a few windows' worth (nothing past the width can be shown, and long
// values, such as a 1 MiB prompt, would only cost time to measure).
func terminalCell(s string, width int) string {
	if limit := 4 * max(width, defaultWidth); len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + ellipsis
	}
	return strings.Join(strings.Fields(sanitizeTerminal(s)), " ")
}

// doubleReset is a colour reset that tablewriter adds after the padding of
// a cell that ends with one already.
var doubleReset = regexp.MustCompile(`(\x1b\[0m *)\x1b\[0m`)

// trimLineEnd drops spaces at the end of a line, also from before a colour
// reset that tablewriter puts at the end of a line.
func trimLineEnd(line string) string {
	const reset = "\x1b[0m"
	resets := 0
	for {
		line = strings.TrimRight(line, " ")
		if !strings.HasSuffix(line, reset) {
			break
		}
		line = strings.TrimSuffix(line, reset)
		resets++
	}
	if resets > 0 {
		line += reset
	}
	return line
}

// writeJSON prints v as indented JSON (see encodeJSON).
func writeJSON(w io.Writer, v any) error {
	b, err := encodeJSON(v, "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// writeJSONL prints one compact JSON object per line (see encodeJSON).
func writeJSONL[T any](w io.Writer, vs []T) error {
	var buf bytes.Buffer
	for _, v := range vs {
		b, err := encodeJSON(v, "")
		if err != nil {
			return err
		}
		buf.Write(b)
		if buf.Len() >= 64<<10 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
			buf.Reset()
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// encodeJSON is the one way opsctl writes JSON for people and scripts: v
// and a newline, indented by indent ("" for one line), with <, > and &
// as they are. encoding/json escapes those three as \u003c, \u003e and
// \u0026 unless told not to, and JSON stored by other parts (task input,
// results, events, tool schemas) may hold such escapes already, so they
// are undone here as well: `2>&1` stays `2>&1`. The JSON means the same.
func encodeJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return unescapeHTML(buf.Bytes()), nil
}

// marshalJSON is v as compact JSON, without a newline (see encodeJSON).
func marshalJSON(v any) string {
	b, err := encodeJSON(v, "")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(bytes.TrimSuffix(b, []byte("\n")))
}

// unescapeHTML turns the escapes \u003c, \u003e and \u0026 in JSON text
// back into <, > and &. In valid JSON a backslash occurs only inside a
// string, where it starts an escape, so walking escape by escape never
// mistakes an escaped backslash followed by "u003c" for one.
func unescapeHTML(b []byte) []byte {
	i := bytes.IndexByte(b, '\\')
	if i < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:i]...)
	for i < len(b) {
		c := b[i]
		if c != '\\' || i+1 >= len(b) {
			out = append(out, c)
			i++
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch strings.ToLower(string(b[i+2 : i+6])) {
			case "003c":
				out = append(out, '<')
				i += 6
				continue
			case "003e":
				out = append(out, '>')
				i += 6
				continue
			case "0026":
				out = append(out, '&')
				i += 6
				continue
			}
		}
		out = append(out, c, b[i+1])
		i += 2
	}
	return out
}

// Colours on a terminal. Each coloured text ends with a reset on its own
// line: a colour never runs past a newline.
const (
	ansiReset  = "\x1b[0m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiGrey   = "\x1b[90m"
)

// paint wraps each line of s in a colour, the reset before each newline.
func paint(color, s string) string {
	if color == "" || s == "" {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = color + l + ansiReset
		}
	}
	return strings.Join(lines, "\n")
}

// statusColor is the colour of a task status, "" for none.
func statusColor(s string) string {
	switch s {
	case "pending":
		return ansiYellow
	case "running":
		return ansiCyan
	case "waiting":
		return ansiYellow
	case "completed":
		return ansiGreen
	case "failed":
		return ansiRed
	case "cancelled":
		return ansiGrey
	}
	return ""
}

// colorStatus paints a status when colour is on.
func colorStatus(s string, on bool) string {
	if !on {
		return s
	}
	return paint(statusColor(s), s)
}

// truncate shortens s to n runes, on one line, for text inside a line.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// schemaArgs lists the arguments of a tool's input schema: the names of
// its properties, the required ones first and marked with "*", each group
// in the schema's order ("path*, encoding"); "-" when it has none.
func schemaArgs(schema json.RawMessage) string {
	var s struct {
		Properties orderedKeys `json:"properties"`
		Required   []string    `json:"required"`
	}
	if json.Unmarshal(schema, &s) != nil || len(s.Properties) == 0 {
		return "-"
	}
	var req, opt []string
	for _, name := range s.Properties {
		if slices.Contains(s.Required, name) {
			req = append(req, name+"*")
		} else {
			opt = append(opt, name)
		}
	}
	return strings.Join(append(req, opt...), ", ")
}

// orderedKeys are the keys of a JSON object in the order they are written.
type orderedKeys []string

func (k *orderedKeys) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: no keys
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		*k = append(*k, tok.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}
