package commands

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// testClock is a settable clock for a Factory and its store.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// statusWorld runs commands in process on one database, with a clock.
type statusWorld struct {
	t     *testing.T
	env   map[string]string
	clock *testClock
}

func newStatusWorld(t *testing.T) *statusWorld {
	dir := t.TempDir()
	return &statusWorld{t: t, clock: &testClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}, env: map[string]string{
		"HOME":            dir,
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"XDG_DATA_HOME":   filepath.Join(dir, "data"),
		"OPSCTL_DB":       filepath.Join(dir, "opsctl.db"),
		"NO_COLOR":        "1",
	}}
}

func (w *statusWorld) factory(tty bool) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	f := &Factory{
		IO:     &IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut, OutTTY: tty},
		Getenv: func(k string) string { return w.env[k] },
		Now:    w.clock.Now,
	}
	f.Registry = newRegistry(f)
	return f, &out, &errOut
}

// run runs one command line and returns its stdout, stderr and code.
func (w *statusWorld) run(tty bool, args ...string) (string, string, int) {
	f, out, errOut := w.factory(tty)
	code := Run(context.Background(), f, args)
	return out.String(), errOut.String(), code
}

// store opens the world's database with its clock.
func (w *statusWorld) store() db.Store {
	f, _, _ := w.factory(false)
	s, err := f.Store(context.Background())
	require.NoError(w.t, err)
	w.t.Cleanup(func() { f.Close() })
	return s
}

// On a terminal, status shows tables with headers and relative times.
func TestStatusOnTerminal(t *testing.T) {
	t.Parallel()
	w := newStatusWorld(t)
	ctx := context.Background()
	s := w.store()
	for _, q := range []string{"default", "default", "nightly"} {
		_, err := s.Submit(ctx, db.NewTask{Type: "exec", Queue: q, Input: []byte(`{"command":["true"]}`)})
		require.NoError(t, err)
	}
	require.NoError(t, s.RegisterRunner(ctx, db.RunnerInfo{ID: "h1:42:abcdef", Host: "h1", PID: 42, Workers: 4, Version: "v1"}))
	w.clock.Add(3 * time.Minute)
	require.NoError(t, s.RunnerHeartbeat(ctx, "h1:42:abcdef"))
	w.clock.Add(5 * time.Second)

	out, errOut, code := w.run(true, "status")
	require.Equal(t, ExitOK, code, errOut)
	require.Empty(t, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 6, out)
	require.Regexp(t, `^RUNNER +HOST +PID +WORKERS +QUEUES +STARTED +HEARTBEAT +VERSION`, lines[0])
	require.Regexp(t, `^h1:42:abcdef +h1 +42 +4 +all +3m ago +5s ago +v1`, lines[1])
	require.Empty(t, strings.TrimSpace(lines[2]))
	require.Regexp(t, `^QUEUE +PENDING +RUNNING +WAITING +COMPLETED +FAILED +CANCELLED`, lines[3])
	require.Regexp(t, `^default +2 +0 +0 +0 +0`, lines[4])
	require.Regexp(t, `^nightly +1 +0 +0 +0 +0`, lines[5])

	// Two minutes without a beat: gone. Not listed, and said on stderr;
	// --all lists it with its state.
	w.clock.Add(2 * time.Minute)
	out, errOut, code = w.run(true, "status")
	require.Equal(t, ExitOK, code, errOut)
	require.NotContains(t, out, "h1:42")
	require.Regexp(t, `^QUEUE `, out)
	require.Equal(t, "opsctl: no runner is live; 1 gone, the last seen 2m ago (start one with 'opsctl run')\n", errOut)
	out, _, code = w.run(true, "status", "--all")
	require.Equal(t, ExitOK, code)
	require.Regexp(t, `(?m)^RUNNER .* STATE\s*$`, out)
	require.Regexp(t, `(?m)^h1:42:abcdef +h1 +42 +4 +all +5m ago +2m ago +v1 +gone\s*$`, out)
}

// The notice of wait: once, only while a task is pending, only when no
// runner beat within the last minute, first looked at 10s into the wait.
func TestRunnerNotice(t *testing.T) {
	t.Parallel()
	w := newStatusWorld(t)
	ctx := context.Background()
	s := w.store()
	f, _, _ := w.factory(false)

	n := newRunnerNotice(f, s)
	require.Empty(t, n.check(ctx, true), "not yet 10s into the wait")
	w.clock.Add(9 * time.Second)
	require.Empty(t, n.check(ctx, true))
	w.clock.Add(time.Second)
	require.Empty(t, n.check(ctx, false), "no task is pending: a running one has its runner")
	require.Equal(t, "opsctl: no runner is registered (start one with 'opsctl run')", n.check(ctx, true))
	w.clock.Add(time.Hour)
	require.Empty(t, n.check(ctx, true), "said once")

	// A runner that beat 30s ago is alive; one silent longer than
	// db.RunnerGoneAfter is not.
	require.NoError(t, s.RegisterRunner(ctx, db.RunnerInfo{ID: "h:1:a", Host: "h", PID: 1, Workers: 1}))
	w.clock.Add(30 * time.Second)
	n = newRunnerNotice(f, s)
	w.clock.Add(10 * time.Second)
	require.Empty(t, n.check(ctx, true), "beat 40s ago")
	w.clock.Add(5 * time.Second)
	require.Empty(t, n.check(ctx, true), "looks again only 10s later")
	w.clock.Add(5 * time.Second)
	require.Empty(t, n.check(ctx, true), "beat 50s ago")
	w.clock.Add(9*time.Minute + 10*time.Second)
	require.Equal(t, "opsctl: no runner has been seen for 10m (start one with 'opsctl run')", n.check(ctx, true))
	require.Empty(t, n.check(ctx, true))
}

func TestRoughAge(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 0: "0s", 59 * time.Second: "59s", time.Minute: "1m", 10*time.Minute + 59*time.Second: "10m",
		time.Hour: "1h", 47 * time.Hour: "47h", 48 * time.Hour: "2d", 30 * 24 * time.Hour: "30d",
	} {
		require.Equal(t, want, roughAge(d), "%s", d)
	}
}
