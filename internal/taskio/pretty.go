package taskio

import (
	"fmt"
	"sort"
	"strings"
)

// WriteJSONText writes v as indented JSON with its keys sorted, with one
// difference: a string of more than one line (a command's output, a
// prompt) is written as text, "|" and then its lines indented under its
// key, not as one long line of \n escapes. Nothing follows such a block
// on its last line, not even a comma.
func WriteJSONText(b *strings.Builder, v any, indent string) {
	inner := indent + "  "
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		keys := sortedKeys(v)
		for i, k := range keys {
			b.WriteString(inner + string(marshalPlain(k)) + ": ")
			WriteJSONText(b, v[k], inner)
			if i < len(keys)-1 && !TextBlock(v[k]) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, e := range v {
			b.WriteString(inner)
			WriteJSONText(b, e, inner)
			if i < len(v)-1 && !TextBlock(e) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case string:
		if !TextBlock(v) {
			b.WriteString(string(marshalPlain(v)))
			return
		}
		b.WriteString("|")
		for _, l := range strings.Split(strings.TrimSuffix(v, "\n"), "\n") {
			b.WriteString("\n" + inner + l)
		}
	default:
		b.WriteString(string(marshalPlain(v)))
	}
}

// TextBlock reports a string of more than one line.
func TextBlock(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(strings.TrimSuffix(s, "\n"), "\n")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// EscapeControl writes a control byte as an escape a person can read:
// \r, \a and the like, else \xNN.
func EscapeControl(c byte) string {
	switch c {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\r':
		return `\r`
	case '\v':
		return `\v`
	}
	return fmt.Sprintf(`\x%02x`, c)
}
