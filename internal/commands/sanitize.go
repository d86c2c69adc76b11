package commands

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/opsctl/opsctl/internal/taskio"
)

// Task output and event text come from commands and models, not from
// opsctl: printed raw on a terminal, an escape sequence in them could clear
// the screen, move the cursor, rewrite the lines above, set the window
// title, or ring the bell. On a terminal, `logs` and `show` print such text
// through sanitizeTerminal; piped, and in JSON, it is printed as it is.

// sanitizeTerminal replaces what a terminal would act on rather than show
// with visible escapes: C0 control bytes other than newline and tab (ESC as
// \x1b, CR as \r, BEL as \a, backspace as \b, ...), DEL (\x7f), C1 controls
// U+0080–U+009F (\u009b) and bytes that are not UTF-8 (\xff). Everything
// else, backslashes included, is left alone.
func sanitizeTerminal(s string) string {
	i := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if unsafeASCII(c) {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || isC1(r) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if unsafeASCII(c) {
				b.WriteString(taskio.EscapeControl(c))
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, c)
		case isC1(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeASCII reports C0 controls but newline and tab, and DEL.
func unsafeASCII(c byte) bool {
	return (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f
}

func isC1(r rune) bool { return r >= 0x80 && r <= 0x9f }

// terminalText is s made safe for stdout when it is a terminal, and s as it
// is otherwise.
func terminalText(io *IOStreams, s string) string {
	if io.OutTTY {
		return sanitizeTerminal(s)
	}
	return s
}
