package commands_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// These tests check that bench works and reports, not how fast: speed is
// measured, never asserted (docs/PERFORMANCE.md).

// benchJSON runs `opsctl bench -o json` with args and decodes the report.
func benchJSON(t *testing.T, p *procEnv, args ...string) map[string]any {
	t.Helper()
	out := p.ok(append([]string{"bench", "-o", "json"}, args...)...)
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep
}

func TestBenchBurnDownUsesAScratchFile(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	rep := benchJSON(t, p, "--tasks", "500", "--workers", "20")
	for _, k := range []string{"insert_per_sec", "work_per_sec", "pickup_p50_ms", "pickup_p99_ms", "peak_rss_mb"} {
		require.Contains(t, rep, k)
	}
	require.EqualValues(t, 500, rep["completed"])
	require.EqualValues(t, 0, rep["failed"])
	require.EqualValues(t, 500, rep["tasks_in_file"])
	require.Equal(t, "", rep["db"])
	require.Positive(t, rep["work_per_sec"])
	require.Positive(t, rep["peak_rss_mb"])
	// OPSCTL_DB names the user's database; bench must not have touched it.
	_, err := os.Stat(filepath.Join(p.dir, "opsctl.db"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestBenchExplicitDB(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	path := filepath.Join(p.dir, "bench.db")
	rep := benchJSON(t, p, "--db", path, "--tasks", "100", "--batch", "30")
	require.Equal(t, path, rep["db"])
	require.EqualValues(t, 100, rep["tasks_in_file"])
	out := p.ok("--db", path, "list", "--all", "--status", "completed", "-o", "jsonl")
	require.Equal(t, 100, strings.Count(out, "\n"))
}

func TestBenchRunnerProcesses(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	rep := benchJSON(t, p, "--tasks", "2000", "--runners", "3", "--workers", "10")
	require.EqualValues(t, 2000, rep["completed"])
	require.EqualValues(t, 3, rep["runners"])
}

func TestBenchContinuous(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	rep := benchJSON(t, p, "--mode", "continuous", "--rate", "200", "--duration", "500ms", "--poll", "10ms")
	require.Positive(t, rep["tasks"])
	require.Equal(t, rep["tasks"], rep["completed"])
	require.Positive(t, rep["pickup_p99_ms"])
}

func TestBenchAgent(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	rep := benchJSON(t, p, "--type", "agent", "--tasks", "6", "--workers", "3", "--agent-delay", "10ms")
	require.EqualValues(t, 6, rep["completed"])
	require.EqualValues(t, 0, rep["failed"])
}

func TestBenchTypeIsNotSubmittable(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	for _, typ := range []string{"bench-noop", "bench-agent"} {
		_, stderr, code := p.run("submit", "--type", typ, "--input", "{}")
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "unknown task type")
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	for _, args := range [][]string{
		{"--mode", "sideways"},
		{"--type", "shell"},
		{"--tasks", "0"},
		{"--type", "agent", "--runners", "2"},
		{"-o", "wide"},
	} {
		_, stderr, code := p.run(append([]string{"bench"}, args...)...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
	}
	_, stderr, code := p.run("bench", "worker")
	require.Equal(t, 2, code, stderr)
}
