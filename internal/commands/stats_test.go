package commands

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// finishWithResult submits a task, claims it and stores status with
// result, as a runner would.
func (w *statusWorld) finishWithResult(s db.Store, typ, queue string, status db.Status, result string) int64 {
	w.t.Helper()
	ctx := context.Background()
	in := `{"command":["true"]}`
	if typ == "agent" {
		in = `{"prompt":"p"}`
	}
	r, err := s.Submit(ctx, db.NewTask{Type: typ, Queue: queue, Input: json.RawMessage(in)})
	require.NoError(w.t, err)
	got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Queues: []string{queue}, Types: []string{typ}, Limit: 1, Lease: time.Hour})
	require.NoError(w.t, err)
	require.Len(w.t, got, 1)
	require.Equal(w.t, r.ID, got[0].ID)
	out := db.Outcome{ID: r.ID, Worker: "w", Attempt: got[0].Attempts, Status: status, Result: json.RawMessage(result)}
	if status != db.StatusCompleted {
		out.Error = "failed"
	}
	_, err = s.Finish(ctx, []db.NewEvent{{TaskID: r.ID, Kind: "model",
		Data: json.RawMessage(`{"step":1,"text":"hi","tool_calls":[],"stop_reason":"stop","usage":{},"cost_usd":0.0035}`)}},
		[]db.Outcome{out})
	require.NoError(w.t, err)
	return r.ID
}

const (
	pricedResult   = `{"answer":"a","stop_reason":"answer","steps":1,"usage":{"input_tokens":1000,"output_tokens":50,"total_tokens":1050,"cached_input_tokens":800},"provider":"openai","model":"gpt-4o","cost_usd":0.0035}`
	unpricedResult = `{"answer":"","stop_reason":"max_steps","steps":3,"usage":{"input_tokens":30,"output_tokens":15,"total_tokens":45},"provider":"openai","model":"local"}`
)

// On a terminal, stats is a table with a header, costs in dollars and a
// TOTAL row; piped it has neither header nor total.
func TestStatsOnTerminal(t *testing.T) {
	t.Parallel()
	w := newStatusWorld(t)
	s := w.store()
	w.finishWithResult(s, "agent", "default", db.StatusCompleted, pricedResult)
	w.finishWithResult(s, "agent", "ops", db.StatusFailed, unpricedResult)
	w.finishWithResult(s, "exec", "ops", db.StatusCompleted, `{"exit_code":0}`)

	out, errOut, code := w.run(true, "stats", "--by", "model")
	require.Equal(t, ExitOK, code, errOut)
	require.Empty(t, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 5, out)
	require.Regexp(t, `^MODEL +TASKS +FAILED +INPUT +OUTPUT +TOTAL +COST$`, lines[0])
	require.Regexp(t, `^- +1 +0 +0 +0 +0 +-$`, lines[1])
	require.Regexp(t, `^gpt-4o +1 +0 +1000 +50 +1050 +\$0\.0035$`, lines[2])
	require.Regexp(t, `^local +1 +1 +30 +15 +45 +-$`, lines[3])
	require.Regexp(t, `^TOTAL +3 +1 +1030 +65 +1095 +\$0\.0035$`, lines[4])

	out, _, code = w.run(false, "stats")
	require.Equal(t, ExitOK, code)
	require.Equal(t, "agent\t2\t1\t1030\t65\t1095\t0.0035\nexec\t1\t0\t0\t0\t0\t-\n", out)

	// Nothing finished in the window: a note on a terminal, nothing piped.
	w.clock.Add(2 * time.Hour)
	out, errOut, code = w.run(true, "stats", "--since", "1h")
	require.Equal(t, ExitOK, code)
	require.Empty(t, out)
	require.Regexp(t, `^no tasks finished since \S+ \S+ \(1h ago\)\n$`, errOut)
	out, errOut, code = w.run(false, "stats", "--since", "1h")
	require.Equal(t, ExitOK, code)
	require.Empty(t, out)
	require.Empty(t, errOut)
}

// The cost shows in list -o wide (dollars on a terminal, a plain number
// piped), in show, and in the model event's line.
func TestCostShown(t *testing.T) {
	t.Parallel()
	w := newStatusWorld(t)
	s := w.store()
	w.finishWithResult(s, "agent", "default", db.StatusCompleted, pricedResult)
	w.finishWithResult(s, "agent", "default", db.StatusCompleted, unpricedResult)

	f, wideOut, errBuf := w.factory(true)
	f.IO.TermSize = func() (int, int) { return 200, 0 }
	code := Run(context.Background(), f, []string{"list", "-o", "wide"})
	out, errOut := wideOut.String(), errBuf.String()
	require.Equal(t, ExitOK, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3, out)
	require.Regexp(t, ` COST$`, lines[0])
	require.Regexp(t, `^2 .* -$`, lines[1])
	require.Regexp(t, `^1 .* \$0\.0035$`, lines[2])

	out, _, code = w.run(false, "list", "-o", "wide")
	require.Equal(t, ExitOK, code)
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.True(t, strings.HasSuffix(lines[0], "\t-"), lines[0])
	require.True(t, strings.HasSuffix(lines[1], "\t0.0035"), lines[1])

	out, _, code = w.run(false, "show", "1")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, "\nCost:         $0.0035\n")
	require.Regexp(t, `(?m)^  \S+  model step 1: hi \[stop\] \(cost \$0\.0035\)$`, out)
	out, _, code = w.run(false, "show", "2")
	require.Equal(t, ExitOK, code)
	require.NotContains(t, out, "Cost:")

	out, _, code = w.run(false, "logs", "1")
	require.Equal(t, ExitOK, code)
	require.Regexp(t, `(?m)^-- \S+ model step 1 \[stop\] \(cost \$0\.0035\)$`, out)
}

func TestCostCell(t *testing.T) {
	t.Parallel()
	require.Equal(t, "-", costCell(1, false, true))
	require.Equal(t, "-", costCell(0, false, false))
	require.Equal(t, "$0.00", costCell(0, true, true))
	require.Equal(t, "0", costCell(0, true, false))
	require.Equal(t, "0.0035", costCell(0.0035000000000000005, true, false))
	require.Equal(t, "1234.5", costCell(1234.5, true, false))
	require.Equal(t, "$1,234.50", costCell(1234.5, true, true))
	require.Equal(t, "0.000001", costCell(0.0000012, true, false))
}
