package commands_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/commands"
)

// The checked-in completion scripts must be what the binary generates.
// Refresh them with: OPSCTL_UPDATE_COMPLETIONS=1 go test ./internal/commands -run TestCompletionsUpToDate
func TestCompletionsUpToDate(t *testing.T) {
	t.Parallel()
	files := map[string]string{"bash": "opsctl.bash", "zsh": "_opsctl", "fish": "opsctl.fish", "powershell": "opsctl.ps1"}
	for shell, name := range files {
		var out, errOut bytes.Buffer
		f := &commands.Factory{
			IO:     &commands.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut},
			Getenv: func(string) string { return "" },
			Now:    time.Now,
		}
		code := commands.Run(context.Background(), f, []string{"completion", shell})
		require.Equal(t, 0, code, errOut.String())
		path := filepath.Join(repoRoot(t), "completions", name)
		if os.Getenv("OPSCTL_UPDATE_COMPLETIONS") == "1" {
			require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run with OPSCTL_UPDATE_COMPLETIONS=1 to create it")
		require.Equal(t, string(want), out.String(), "%s is stale: run OPSCTL_UPDATE_COMPLETIONS=1 go test ./internal/commands -run TestCompletionsUpToDate", name)
	}
}
