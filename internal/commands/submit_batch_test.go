package commands_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// withLines is batchLines(n) with some lines replaced.
func withLines(n int, repl map[int]string) []byte {
	lines := bytes.SplitAfter(batchLines(n, nil), []byte("\n"))
	for at, l := range repl {
		lines[at-1] = []byte(l + "\n")
	}
	return bytes.Join(lines, nil)
}

// TestBatchFirstBadLineWins: the lines of a large batch are parsed in
// blocks, each by several goroutines, yet the error is the first bad
// line's, whichever block and goroutine it falls to, a line too long
// counts in its place, and nothing is written.
func TestBatchFirstBadLineWins(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	long := `{"type":"exec","input":{"command":["echo","` + strings.Repeat("x", 1<<20+200<<10) + `"]}}`
	for _, c := range []struct {
		name string
		repl map[int]string
		want string
	}{
		{"later block", map[int]string{9000: `{"type":"exec","input":{"command":[]}}`, 9001: `{"type":"nope","input":{}}`, 12000: `{`},
			`batch line 9000: exec input: needs "command" (an argv list) or "shell" (a string)`},
		{"two goroutines", map[int]string{4095: `{"type":"exec","input":{}}`, 1000: `{"type":"exec","input":{},"name":5}`},
			`batch line 1000: cannot unmarshal number into Go struct field Line.name of type string`},
		{"bad before long", map[int]string{5000: `[1]`, 5001: long},
			`batch line 5000: line must be a JSON object, not an array`},
		{"long before bad", map[int]string{5000: long, 5001: `[1]`},
			`batch line 5000 is 1.2 MiB; the limit is 1 MiB + 64 KiB`},
		{"after a later line", map[int]string{7000: `{"type":"exec","input":{"command":["x"]},"after":"#7001"}`, 7002: `{`},
			`batch line 7002: line is not valid JSON: unexpected EOF`},
	} {
		out, errOut, code := p.run("submit", "--batch", p.writeFile("bad.jsonl", withLines(15000, c.repl)))
		refused(t, c.want, out, errOut, code)
		_, err := os.Stat(filepath.Join(p.dir, "opsctl.db"))
		require.ErrorIs(t, err, os.ErrNotExist, c.name)
	}
}
