package commands_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// procEnv is one test's private opsctl world: a database and a work dir.
type procEnv struct {
	t   *testing.T
	dir string
	db  string // OPSCTL_DB: a file path or a postgres:// URL
	env []string
}

// newProcEnv is a procEnv on a SQLite file in its work dir.
func newProcEnv(t *testing.T) *procEnv {
	t.Helper()
	return newProcEnvDB(t, "")
}

// newProcEnvDB is a procEnv on the database db (a postgres:// URL), or on
// a SQLite file in its work dir when db is "".
func newProcEnvDB(t *testing.T, db string) *procEnv {
	t.Helper()
	dir := t.TempDir()
	if db == "" {
		db = filepath.Join(dir, "opsctl.db")
	}
	env := append(os.Environ(),
		"OPSCTL_DB="+db,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"NO_COLOR=1",
		// Race-enabled binaries otherwise sleep a second at exit; each
		// exec task's supervisor is one.
		"GORACE=atexit_sleep_ms=0",
	)
	return &procEnv{t: t, dir: dir, db: db, env: env}
}

// command builds an opsctl process (the test binary, via PATH).
func (p *procEnv) command(args ...string) *exec.Cmd {
	cmd := exec.Command("opsctl", args...)
	cmd.Env = p.env
	cmd.Dir = p.dir
	return cmd
}

// run runs opsctl to the end and returns stdout, stderr and the exit code.
func (p *procEnv) run(args ...string) (string, string, int) {
	p.t.Helper()
	return p.runStdin(nil, args...)
}

// runStdin runs opsctl with stdin (nil: none) and returns stdout, stderr
// and the exit code.
func (p *procEnv) runStdin(stdin []byte, args ...string) (string, string, int) {
	p.t.Helper()
	cmd := p.command(args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(p.t, err)
	}
	return out.String(), errb.String(), code
}

// ok runs opsctl and requires exit 0.
func (p *procEnv) ok(args ...string) string {
	p.t.Helper()
	out, errOut, code := p.run(args...)
	require.Equal(p.t, 0, code, "opsctl %v\nstdout: %s\nstderr: %s", args, out, errOut)
	return out
}

// submit submits a task and returns its id.
func (p *procEnv) submit(args ...string) int64 {
	p.t.Helper()
	out := p.ok(append([]string{"submit", "-q"}, args...)...)
	id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	require.NoError(p.t, err, out)
	return id
}

// task is the subset of `show -o json` the tests read.
type task struct {
	ID       int64           `json:"id"`
	Status   string          `json:"status"`
	Error    string          `json:"error"`
	Attempts int             `json:"attempts"`
	Result   json.RawMessage `json:"result"`
}

func (p *procEnv) show(id int64) task {
	p.t.Helper()
	var tk task
	require.NoError(p.t, json.Unmarshal([]byte(p.ok("show", "-o", "json", strconv.FormatInt(id, 10))), &tk))
	return tk
}

// eventually polls cond every 50ms until it holds or the limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readPID waits for a task's command to write its pid to path.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	eventually(t, 20*time.Second, "pid file "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// startRunner starts `opsctl run` in the background; stop it with the
// returned func (SIGKILL if still running at test end).
func (p *procEnv) startRunner(args ...string) (*exec.Cmd, *syncBuffer) {
	p.t.Helper()
	cmd := p.command(append([]string{"run"}, args...)...)
	errb := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = errb, errb
	require.NoError(p.t, cmd.Start())
	p.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, errb
}

// syncBuffer is a buffer a process writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-ctx.Done():
		t.Fatalf("process did not exit within %s", limit)
		return -1
	}
}

// holdWriteLock takes the database's write lock from the test process, as
// a long write transaction of another process would, until release.
func (p *procEnv) holdWriteLock() (release func()) {
	p.t.Helper()
	hold, err := sql.Open("sqlite", "file:"+filepath.Join(p.dir, "opsctl.db")+"?_pragma=busy_timeout(30000)")
	require.NoError(p.t, err)
	conn, err := hold.Conn(context.Background())
	require.NoError(p.t, err)
	_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	require.NoError(p.t, err)
	return func() {
		_, err := conn.ExecContext(context.Background(), "COMMIT")
		require.NoError(p.t, err)
		conn.Close()
		hold.Close()
	}
}

// killRunnerExpectGone starts a runner, waits for its task to write the
// pid of a process it started to the file "pid", kills the runner -9 and
// expects that process to die with it.
func (p *procEnv) killRunnerExpectGone(what string) {
	p.t.Helper()
	r, _ := p.startRunner("--workers", "1")
	pid := readPID(p.t, filepath.Join(p.dir, "pid"))
	require.True(p.t, alive(pid))
	require.NoError(p.t, r.Process.Signal(syscall.SIGKILL))
	r.Wait()
	eventually(p.t, 10*time.Second, what, func() bool { return !alive(pid) })
}
