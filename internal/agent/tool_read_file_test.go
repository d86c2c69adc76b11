package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadFile(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	allowed := filepath.Join(base, "allowed")
	outside := filepath.Join(base, "outside")
	sibling := filepath.Join(base, "allowed-not")
	for _, d := range []string{allowed, filepath.Join(allowed, "sub"), outside, sibling} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	write := func(path, content string) {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	write(filepath.Join(allowed, "notes.txt"), "disk sda is at 91%")
	write(filepath.Join(allowed, "sub", "deep.txt"), "deep")
	write(filepath.Join(allowed, "big.txt"), strings.Repeat("b", readFileMaxBytes+100))
	write(filepath.Join(outside, "secret.txt"), "the secret")
	write(filepath.Join(sibling, "secret.txt"), "the secret")
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(allowed, "escape.txt")))
	require.NoError(t, os.Symlink(outside, filepath.Join(allowed, "escape-dir")))
	require.NoError(t, os.Symlink(filepath.Join(allowed, "notes.txt"), filepath.Join(allowed, "inside-link.txt")))
	// A directory that is itself reached through a symlink still counts.
	linkedAllowed := filepath.Join(base, "linked-allowed")
	require.NoError(t, os.Symlink(allowed, linkedAllowed))

	tests := []struct {
		name    string
		dirs    []string
		path    string
		want    string
		wantErr string
	}{
		{"absolute path inside", []string{allowed}, filepath.Join(allowed, "notes.txt"), "disk sda is at 91%", ""},
		{"relative path", []string{allowed}, "sub/deep.txt", "deep", ""},
		{"unclean path inside", []string{allowed}, filepath.Join(allowed, "sub", "..", "notes.txt"), "disk sda is at 91%", ""},
		{"symlink inside to inside", []string{allowed}, "inside-link.txt", "disk sda is at 91%", ""},
		{"allowed dir given through a symlink", []string{linkedAllowed}, filepath.Join(allowed, "notes.txt"), "disk sda is at 91%", ""},
		{"second allowed dir", []string{outside, allowed}, filepath.Join(allowed, "notes.txt"), "disk sda is at 91%", ""},
		{"dot-dot escape", []string{allowed}, "../outside/secret.txt", "", "is outside the allowed directories"},
		{"absolute escape", []string{allowed}, filepath.Join(outside, "secret.txt"), "", "is outside the allowed directories"},
		{"symlink file escape", []string{allowed}, "escape.txt", "", "is outside the allowed directories"},
		{"symlink dir escape", []string{allowed}, "escape-dir/secret.txt", "", "is outside the allowed directories"},
		{"a name prefix is not containment", []string{allowed}, filepath.Join(sibling, "secret.txt"), "", "is outside the allowed directories"},
		{"missing file", []string{allowed}, "nope.txt", "", "nope.txt: no such file"},
		{"directory", []string{allowed}, "sub", "", "sub is not a regular file"},
		{"no allowed dirs", nil, filepath.Join(allowed, "notes.txt"), "", "read_file is not configured with any allowed directory"},
		{"truncated", []string{allowed}, "big.txt", "[truncated: only the first 65536 of 65636 bytes are shown]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args, err := json.Marshal(map[string]string{"path": tt.path})
			require.NoError(t, err)
			out, err := newReadFileTool(tt.dirs).Call(context.Background(), args)
			if tt.wantErr != "" {
				var terr *ToolError
				require.ErrorAs(t, err, &terr)
				require.Contains(t, terr.Message, tt.wantErr)
				require.NotContains(t, out, "the secret")
				return
			}
			require.NoError(t, err)
			require.Contains(t, out, tt.want)
			require.LessOrEqual(t, len(out), readFileMaxBytes+100)
		})
	}
}

func TestReadUnderRootRefusesEscapes(t *testing.T) {
	t.Parallel()
	// Even if a symlink is swapped in after the path check, the open through
	// os.Root refuses to follow it out of the directory.
	base := t.TempDir()
	allowed := filepath.Join(base, "allowed")
	require.NoError(t, os.MkdirAll(allowed, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(base, "secret.txt"), []byte("the secret"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(allowed, "swapped.txt")))
	out, err := readUnderRoot(allowed, "swapped.txt", "swapped.txt")
	require.Error(t, err)
	require.Empty(t, out)
}
