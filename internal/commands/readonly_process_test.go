package commands_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A user who may read the database file but not write it can still list
// and show (it is opened read-only); a write is exit 6, "read-only", and
// the file is left as it was. The reader runs as nobody, which takes root
// to arrange (CI runs as root).
func TestReadOnlyDatabaseCanBeRead(t *testing.T) {
	if os.Geteuid() != 0 {
		// Only root can run a command as nobody; CI runs as root, so the
		// test always runs there.
		t.Skip("running a command as another user needs root (CI runs as root)")
	}
	t.Parallel()
	p := newProcEnv(t)
	p.submit("--name", "readable", "--", "echo", "hi")
	dbFile := filepath.Join(p.dir, "opsctl.db")
	before, err := os.ReadFile(dbFile)
	require.NoError(t, err)

	// The test binary doubles as opsctl when it is called so; nobody needs
	// a copy it can reach.
	self, err := os.Executable()
	require.NoError(t, err)
	binDir := t.TempDir()
	bin, err := os.ReadFile(self)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(binDir, "opsctl"), bin, 0o755))
	for _, d := range []string{filepath.Dir(binDir), binDir, filepath.Dir(p.dir), p.dir} {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	require.NoError(t, os.Chmod(dbFile, 0o644))

	asNobody := func(args ...string) (string, string, int) {
		cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", filepath.Join(binDir, "opsctl")}, args...)...)
		cmd.Env, cmd.Dir = append(p.env, "HOME="+binDir), binDir
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return out.String(), errb.String(), code
	}
	out, errOut, code := asNobody("list", "-q")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "1\n", out)
	out, errOut, code = asNobody("show", "1")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "readable")

	_, errOut, code = asNobody("cancel", "1")
	require.Equal(t, 6, code, errOut)
	require.Contains(t, errOut, "read-only")
	_, errOut, code = asNobody("submit", "--", "echo", "no")
	require.Equal(t, 6, code, errOut)
	after, err := os.ReadFile(dbFile)
	require.NoError(t, err)
	require.Equal(t, before, after, "the file is left as it was")
	require.Equal(t, "pending", p.show(1).Status)
}
