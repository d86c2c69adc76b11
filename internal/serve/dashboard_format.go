package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsctl/opsctl/internal/taskio"
)

// timeView is a time as pages show it: relative ("3m ago"), with the exact
// time in the title and the datetime attribute (the script keeps the
// relative form current).
type timeView struct {
	ISO   string // RFC 3339, for the datetime attribute
	Exact string // for the title: "2026-11-28 14:03:11 UTC"
	Rel   string
	Clock string // "14:03:11", UTC
}

// newTimeView describes t as seen at now; the zero time gives the zero view
// (templates show "—").
func newTimeView(t, now time.Time) timeView {
	if t.IsZero() {
		return timeView{}
	}
	u := t.UTC()
	return timeView{ISO: u.Format(time.RFC3339Nano), Exact: u.Format("2006-01-02 15:04:05.000 UTC"), Rel: taskio.Relative(now.Sub(t)), Clock: u.Format("15:04:05")}
}

// fmtDuration is a duration in at most two units: "850ms", "12.3s",
// "4m 05s", "2h 03m", "3d 4h".
func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	d = d.Round(time.Hour)
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// thousands writes n with commas: 10,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// countLabel is a count that may have stopped at a cap: "10,000+".
func countLabel(n int64, capped bool) string {
	if capped {
		return thousands(n) + "+"
	}
	return thousands(n)
}

// byteSize is a size in bytes, KiB or MiB.
func byteSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// displayText makes text from a command, a model or a tool safe to show
// as text: colour sequences (ESC [ ... m) are dropped, CR LF becomes LF,
// and every other control character or invalid byte is shown as an escape
// (\x1b, \r) rather than passed to the browser. html/template escapes the
// HTML in it afterwards.
func displayText(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b && i+1 < len(s) && s[i+1] == '[':
			// A CSI sequence: parameters and intermediates, then a final
			// byte. Colours (final m) are dropped; others are shown.
			j := i + 2
			for j < len(s) && s[j] >= 0x20 && s[j] <= 0x3f {
				j++
			}
			if j < len(s) && s[j] == 'm' {
				i = j + 1
				continue
			}
			b.WriteString(`\x1b`)
			i++
		case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			i++
		case c == '\n' || c == '\t':
			b.WriteByte(c)
			i++
		case c < 0x20 || c == 0x7f:
			b.WriteString(taskio.EscapeControl(c))
			i++
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				fmt.Fprintf(&b, `\x%02x`, c)
			case r >= 0x80 && r <= 0x9f:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				b.WriteString(s[i : i+size])
			}
			i += size
		}
	}
	return b.String()
}

// prettyJSON is a JSON value as indented text with its keys sorted, as
// `opsctl show` prints it: a string of more than one line (a command's
// output, a prompt) is written as text, "|" and its lines indented under
// its key, not as one long line of \n escapes. Text that is not JSON is
// returned as it is. The result goes through displayText.
func prettyJSON(raw json.RawMessage) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return ""
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return displayText(string(raw))
	}
	var b strings.Builder
	taskio.WriteJSONText(&b, v, "")
	return displayText(b.String())
}

// clip cuts s to at most n runes, with "…" when it was cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
