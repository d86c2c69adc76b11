package commands_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// On a terminal, run --once draws its progress line and prints the task
// lines: each line clears the progress line first, so no line is glued to
// it, and the summary ends the output. script(1) gives the command a
// pseudo-terminal.
func TestRunOnceLinesOnTerminal(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	p.submit("--", "sleep", "0.6")
	p.submit("--", "sh", "-c", "echo no >&2; exit 4")
	cmd := exec.Command("script", "-qc", "opsctl run --once --workers 1", "/dev/null")
	cmd.Env, cmd.Dir = p.env, p.dir
	raw, err := cmd.CombinedOutput()
	require.NoError(t, err, string(raw))
	out := strings.ReplaceAll(string(raw), "\r\n", "\n")
	require.Regexp(t, `\d+ done \(`, out, "the progress line is drawn")
	// Erase sequences aside, the lines are whole.
	clean := regexp.MustCompile(`\r\x1b\[K([|/\\-] \d+ done \([0-9.]+/s\))?`).ReplaceAllString(out, "")
	want := []string{
		`(?m)^task 1 started \(exec: sleep 0\.6\)$`,
		`(?m)^task 1 completed in \S+ \(exit 0\)$`,
		`(?m)^task 2 started \(exec: sh -c "echo no >&2; exit 4"\)$`,
		`(?m)^task 2 failed after \S+: exit code 4: no$`,
		`opsctl: 2 task\(s\) finished, 1 failed\n\z`,
	}
	for _, w := range want {
		require.Regexp(t, w, clean, "raw: %q", out)
	}
	require.NotRegexp(t, `done \([0-9.]+/s\)(task|opsctl)`, out, "a line glued to the progress line")
}
