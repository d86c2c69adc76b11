package db_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// listIDs lists f's tasks and returns their ids.
func listIDs(t *testing.T, s db.Store, f db.Filter) []int64 {
	t.Helper()
	ts, err := s.List(context.Background(), f)
	require.NoError(t, err)
	out := []int64{}
	for _, tk := range ts {
		out = append(out, tk.ID)
	}
	return out
}

// Search matches names containing the text whatever the case of ASCII
// letters, takes LIKE's wildcards and escape character literally, and
// matches the task whose id the text is.
func TestListSearch(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		names := []string{"Deploy web", "deploy_db", "100% done", "a_b", `back\slash`, "ÉTÉ", "été", "nightly 42", "deployXdb", "1000"}
		ids := map[string]int64{}
		for _, n := range names {
			ids[n] = submit(t, s, db.NewTask{Name: n})
		}
		_, err := s.Cancel(ctx, ids["deploy_db"])
		require.NoError(t, err)
		byName := func(ns ...string) []int64 {
			out := []int64{}
			for i := len(names) - 1; i >= 0; i-- { // newest first
				for _, n := range ns {
					if names[i] == n {
						out = append(out, ids[n])
					}
				}
			}
			return out
		}
		// withID is the tasks whose name holds id's digits, and task id.
		withID := func(id int64) []int64 {
			var ns []string
			for _, n := range names {
				if strings.Contains(n, strconv.FormatInt(id, 10)) {
					ns = append(ns, n)
				}
			}
			out := byName(ns...)
			i := 0
			for i < len(out) && out[i] > id {
				i++
			}
			return slices.Insert(out, i, id)
		}
		for _, tc := range []struct {
			search string
			want   []int64
		}{
			{"DEPLOY", byName("Deploy web", "deploy_db", "deployXdb")},
			{"ploy w", byName("Deploy web")},
			{"_", byName("deploy_db", "a_b")},
			{"y_d", byName("deploy_db")}, // not deployXdb: _ is not a wildcard
			{"%", byName("100% done")},
			{"0%", byName("100% done")},
			{`\`, byName(`back\slash`)},
			{`k\s`, byName(`back\slash`)},
			{"été", byName("été")}, // ASCII case only
			{"ÉTÉ", byName("ÉTÉ")},
			{"42", byName("nightly 42")},
			{"nothing", []int64{}},
			// A number also names a task by id.
			{strconv.FormatInt(ids["a_b"], 10), withID(ids["a_b"])},
			{"-" + strconv.FormatInt(ids["a_b"], 10), []int64{}},
			{"100", byName("1000", "100% done")},
		} {
			require.Equal(t, tc.want, listIDs(t, s, db.Filter{Search: tc.search}), "search %q", tc.search)
		}
		// Search combines with the other filters.
		require.Equal(t, []int64{ids["deploy_db"]},
			listIDs(t, s, db.Filter{Search: "deploy", Statuses: []db.Status{db.StatusCancelled}}))
		require.Equal(t, byName("Deploy web", "deployXdb"),
			listIDs(t, s, db.Filter{Search: "deploy", Statuses: []db.Status{db.StatusPending}}))
		n, capped, err := s.CountMatching(ctx, db.Filter{Search: "DEPLOY"}, 100)
		require.NoError(t, err)
		require.False(t, capped)
		require.EqualValues(t, 3, n)
	})
}

// BeforeID pages through List newest first: the pages put together are
// the whole list, whatever the filter.
func TestListBeforeIDPages(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		var nts []db.NewTask
		for i := range 23 {
			nts = append(nts, db.NewTask{Type: []string{"exec", "agent"}[i%2], Queue: []string{"a", "b", "c"}[i%3],
				Name: "task " + strconv.Itoa(i)})
		}
		_, err := s.SubmitBatch(ctx, nts)
		require.NoError(t, err)
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 5, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, got, 5)
		for _, f := range []db.Filter{
			{},
			{Queues: []string{"b"}},
			{Types: []string{"agent"}},
			{Statuses: []db.Status{db.StatusPending}},
			{Statuses: []db.Status{db.StatusRunning}, Types: []string{"exec"}},
			{Queues: []string{"a", "c"}, Types: []string{"exec"}},
			{Queues: []string{"b", "b", "c"}, Statuses: []db.Status{db.StatusRunning, db.StatusPending}}, // split, repeats dropped
			{Queues: []string{"a", "b", "c", "x"}, Statuses: db.Statuses()},                              // too many to split
			{Search: "task 1"},
			{Search: "task 1", Types: []string{"exec", "agent"}},
		} {
			all := listIDs(t, s, f)
			require.NotEmpty(t, all, "%+v", f)
			var paged []int64
			page := f
			page.Limit = 2
			for {
				ids := listIDs(t, s, page)
				if len(ids) == 0 {
					break
				}
				require.LessOrEqual(t, len(ids), 2)
				paged = append(paged, ids...)
				page.BeforeID = ids[len(ids)-1]
			}
			require.Equal(t, all, paged, "%+v", f)

			// CountMatching ignores Limit and BeforeID.
			cf := f
			cf.Limit, cf.BeforeID = 1, all[len(all)/2]
			n, capped, err := s.CountMatching(ctx, cf, 1000)
			require.NoError(t, err)
			require.False(t, capped)
			require.EqualValues(t, len(all), n, "%+v", f)
		}
		require.Equal(t, []int64{}, listIDs(t, s, db.Filter{BeforeID: 1}))
	})
}

// CountMatching stops at its cap: n reaching max says there may be more.
func TestCountMatchingCap(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		for range 3 {
			submit(t, s, db.NewTask{Queue: "q"})
		}
		c.Add(time.Minute)
		submit(t, s, db.NewTask{Queue: "other"})
		q := db.Filter{Queues: []string{"q"}}
		for _, tc := range []struct {
			f      db.Filter
			max    int64
			n      int64
			capped bool
		}{
			{q, 2, 2, true},
			{q, 3, 3, true},
			{q, 4, 3, false},
			{q, 0, 3, false}, // no cap
			{db.Filter{}, 10, 4, false},
			{db.Filter{}, 1, 1, true},
			{db.Filter{Since: c.Now()}, 10, 1, false},
			{db.Filter{Types: []string{"agent"}}, 10, 0, false},
		} {
			n, capped, err := s.CountMatching(ctx, tc.f, tc.max)
			require.NoError(t, err)
			require.Equal(t, tc.n, n, "%+v max %d", tc.f, tc.max)
			require.Equal(t, tc.capped, capped, "%+v max %d", tc.f, tc.max)
		}
	})
}

// EventsSince reads the events of every task in id order, from a cursor;
// LastEventID is where a new stream starts.
func TestEventsSince(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		last, err := s.LastEventID(ctx)
		require.NoError(t, err)
		require.Zero(t, last)
		evs, err := s.EventsSince(ctx, 0, 10)
		require.NoError(t, err)
		require.Empty(t, evs)

		a := submit(t, s, db.NewTask{})
		b := submit(t, s, db.NewTask{})
		_, err = s.AppendEvents(ctx, []db.NewEvent{{TaskID: a, Kind: "note", Data: []byte(`{"n":1}`)},
			{TaskID: b, Kind: "note", Data: []byte(`{"n":2}`)}})
		require.NoError(t, err)
		c.Add(time.Second)
		_, err = s.Cancel(ctx, b)
		require.NoError(t, err)
		_, err = s.AppendEvents(ctx, []db.NewEvent{{TaskID: a, Kind: "note", Data: []byte(`{"n":3}`)}})
		require.NoError(t, err)

		all, err := s.EventsSince(ctx, 0, 0)
		require.NoError(t, err)
		require.Len(t, all, 4)
		var tasks []int64
		for i, e := range all {
			tasks = append(tasks, e.TaskID)
			if i > 0 {
				require.Greater(t, e.ID, all[i-1].ID)
			}
		}
		require.Equal(t, []int64{a, b, b, a}, tasks)
		require.Equal(t, db.EventStatus, all[2].Kind)
		require.Equal(t, c.Now(), all[2].At)
		require.JSONEq(t, `{"n":3}`, string(all[3].Data))

		page, err := s.EventsSince(ctx, all[0].ID, 2)
		require.NoError(t, err)
		require.Equal(t, all[1:3], page)
		page, err = s.EventsSince(ctx, all[3].ID, 2)
		require.NoError(t, err)
		require.Empty(t, page)
		last, err = s.LastEventID(ctx)
		require.NoError(t, err)
		require.Equal(t, all[3].ID, last)
	})
}

// Two tasks with the same key in one batch store one task: the second
// line gets the first one's id, marked as existing. The HTTP API groups
// concurrent submits into one batch, so this is the common case there.
func TestSubmitBatchSameKeyTwice(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		rs, err := s.SubmitBatch(ctx, []db.NewTask{
			{Type: "exec", Name: "first", Key: "dup"},
			{Type: "exec", Name: "second", Key: "dup"},
		})
		require.NoError(t, err)
		require.Len(t, rs, 2)
		require.False(t, rs[0].Existed)
		require.Equal(t, db.SubmitResult{ID: rs[0].ID, Existed: true}, rs[1])
		n, err := s.Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		tk, err := s.Get(ctx, rs[0].ID)
		require.NoError(t, err)
		require.Equal(t, "first", tk.Name)
		require.Equal(t, "dup", tk.Key)

		// Again, with keyless lines around them: one more task per keyless line.
		rs, err = s.SubmitBatch(ctx, []db.NewTask{
			{Type: "exec"}, {Type: "exec", Key: "dup2"}, {Type: "exec"}, {Type: "exec", Key: "dup2"}, {Type: "exec", Key: "dup"},
		})
		require.NoError(t, err)
		require.False(t, rs[1].Existed)
		require.Equal(t, db.SubmitResult{ID: rs[1].ID, Existed: true}, rs[3])
		require.Equal(t, db.SubmitResult{ID: tk.ID, Existed: true}, rs[4])
		n, err = s.Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 4, n)
	})
}
