package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

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

// tablePrinter is the one adapter over tablewriter. On a terminal it prints
// a header and aligned columns; on a pipe it prints tab-separated rows with
// no header, so `cut -f1` and `awk -F'\t'` work.
type tablePrinter struct {
	w    io.Writer
	tty  bool
	head []string
	rows [][]string
}

func newTablePrinter(io *IOStreams, header ...string) *tablePrinter {
	return &tablePrinter{w: io.Out, tty: io.OutTTY, head: header}
}

func (t *tablePrinter) Row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *tablePrinter) Render() error {
	if !t.tty {
		for _, r := range t.rows {
			for i, c := range r {
				r[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
			}
			if _, err := fmt.Fprintln(t.w, strings.Join(r, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	tbl := tablewriter.NewTable(t.w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.On),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "  "}),
		tablewriter.WithTrimSpace(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	tbl.Header(t.head)
	if err := tbl.Bulk(t.rows); err != nil {
		return err
	}
	return tbl.Render()
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONL prints one compact JSON object per line.
func writeJSONL[T any](w io.Writer, vs []T) error {
	enc := json.NewEncoder(w)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// formatTime shows a time relative to now on a terminal and as RFC 3339
// otherwise; the zero time is "-".
func formatTime(t, now time.Time, tty bool) string {
	if t.IsZero() {
		return "-"
	}
	if !tty {
		return t.UTC().Format(time.RFC3339)
	}
	return relative(now.Sub(t))
}

func relative(d time.Duration) string {
	suffix := "ago"
	if d < 0 {
		d, suffix = -d, "from now"
	}
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds %s", int(d.Seconds()), suffix)
	case d < time.Hour:
		return fmt.Sprintf("%dm %s", int(d.Minutes()), suffix)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %s", int(d.Hours()), suffix)
	}
	return fmt.Sprintf("%dd %s", int(d.Hours()/24), suffix)
}

// colorStatus paints a status when colour is on.
func colorStatus(s string, on bool) string {
	if !on {
		return s
	}
	var c string
	switch s {
	case "pending":
		c = "\x1b[33m"
	case "running":
		c = "\x1b[36m"
	case "completed":
		c = "\x1b[32m"
	case "failed":
		c = "\x1b[31m"
	case "cancelled":
		c = "\x1b[90m"
	default:
		return s
	}
	return c + s + "\x1b[0m"
}

// truncate shortens s to n runes for table cells.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
