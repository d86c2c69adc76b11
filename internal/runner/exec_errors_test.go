package runner_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/runner"
)

// A missing working directory or program is the task's error, said as a
// shell would, not a failure to start opsctl itself.
func TestExecStartErrorsAreTheTasks(t *testing.T) {
	t.Parallel()
	e := &runner.Exec{}
	var evs recorder
	_, err := e.Run(context.Background(), json.RawMessage(`{"command":["true"],"dir":"/no/such/dir"}`), &evs)
	require.EqualError(t, err, "working directory /no/such/dir: no such file or directory")
	_, err = e.Run(context.Background(), json.RawMessage(`{"command":["true"],"dir":"/etc/hostname"}`), &evs)
	require.EqualError(t, err, "working directory /etc/hostname: not a directory")

	res, err := e.Run(context.Background(), json.RawMessage(`{"command":["./no-such-program"],"dir":"/"}`), &evs)
	require.EqualError(t, err, "exit code 127 (command not found): cannot run ./no-such-program: no such file or directory")
	var r runner.ExecResult
	require.NoError(t, json.Unmarshal(res, &r))
	require.Equal(t, 127, r.ExitCode)
}
