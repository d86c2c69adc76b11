package agent

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// searchTasksStore is a real store holding two finished backups, one
// failed, and a pending one.
func searchTasksStore(t *testing.T) (db.Store, SearchTasksFunc) {
	t.Helper()
	ctx := context.Background()
	s := dbtest.New(t)
	submit := func(name string) int64 {
		r, err := s.Submit(ctx, db.NewTask{Type: "exec", Name: name, Input: json.RawMessage(`{"command":["backup.sh","--all"]}`)})
		require.NoError(t, err)
		return r.ID
	}
	finish := func(id int64, st db.Status, stderr, errText string) {
		ts, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, ts, 1)
		require.Equal(t, id, ts[0].ID)
		res, _ := json.Marshal(map[string]any{"exit_code": 1, "stdout": "", "stderr": stderr})
		_, err = s.Finish(ctx, nil, []db.Outcome{{ID: id, Worker: "w", Attempt: 1, Status: st, Result: res, Error: errText}})
		require.NoError(t, err)
	}
	finish(submit("db-backup"), db.StatusCompleted, "", "")
	finish(submit("db-backup"), db.StatusFailed, "rsync: No space left on device\n", "exit code 1: "+strings.Repeat("x", 400))
	submit("db-backup")
	return s, func(ctx context.Context, q string, limit int) ([]db.SearchHit, error) {
		return s.Search(ctx, db.SearchQuery{Text: q, Limit: limit})
	}
}

func TestSearchTasksTool(t *testing.T) {
	t.Parallel()
	_, search := searchTasksStore(t)
	tool := newSearchTasksTool(search)
	require.Equal(t, ToolSearchTasks, tool.Spec().Name)
	call := func(args string) (string, error) { return tool.Call(context.Background(), json.RawMessage(args)) }

	out, err := call(`{"query":"db-backup"}`)
	require.NoError(t, err)
	var hits []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &hits))
	require.Len(t, hits, 2, out) // the pending one is not history yet
	if hits[0]["id"] != 2.0 {
		hits[0], hits[1] = hits[1], hits[0]
	}
	failed, ok := hits[0], hits[1]
	require.EqualValues(t, 2, failed["id"])
	require.Equal(t, "failed", failed["status"])
	require.Equal(t, "completed", ok["status"])
	require.Contains(t, failed["snippet"], "db-backup")
	require.NotContains(t, out, db.SnippetMatchStart)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, failed["finished"])
	require.Less(t, len(failed["error"].(string)), 320, "errors are cut")
	require.True(t, strings.HasSuffix(failed["error"].(string), "…"))
	require.Equal(t, []string{"created", "error", "finished", "id", "name", "snippet", "status", "type"}, searchKeys(failed))
	require.Equal(t, []string{"created", "finished", "id", "name", "snippet", "status", "type"}, searchKeys(ok), "empty fields left out")

	out, err = call(`{"query":"no space left"}`)
	require.NoError(t, err)
	require.Contains(t, out, `"id":2,`)
	require.Contains(t, out, `No space left on device`)

	out, err = call(`{"query":"db-backup","limit":1}`)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(out, `"id"`))

	out, err = call(`{"query":"nothing-matches"}`)
	require.NoError(t, err)
	require.Equal(t, "[]", out)

	_, err = call(`{"query":"db"}`)
	var te *ToolError
	require.ErrorAs(t, err, &te)
	require.Equal(t, "needs a word of at least 3 characters", te.Message)
}

// The limit the model asks for is kept to 1-50; default 10.
func TestSearchTasksToolLimit(t *testing.T) {
	t.Parallel()
	var got []int
	tool := newSearchTasksTool(func(_ context.Context, _ string, limit int) ([]db.SearchHit, error) {
		got = append(got, limit)
		return nil, errors.New("store down")
	})
	for _, args := range []string{`{"query":"abc"}`, `{"query":"abc","limit":500}`, `{"query":"abc","limit":3}`} {
		_, err := tool.Call(context.Background(), json.RawMessage(args))
		require.EqualError(t, err, "store down")
	}
	require.Equal(t, []int{10, 50, 3}, got)

	_, err := newSearchTasksTool(nil).Call(context.Background(), json.RawMessage(`{"query":"abc"}`))
	var te *ToolError
	require.ErrorAs(t, err, &te)
	require.Equal(t, "task search is not available in this runner", te.Message)
}

func searchKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
