package db_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// TestSubmitBatchManyKeys: a batch with more keys than one lookup takes,
// some held by stored tasks and some repeated within the batch, among
// keyless tasks: the new tasks get consecutive ids in line order, the
// others the id of the task that holds their key.
func TestSubmitBatchManyKeys(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		stored := map[string]int64{}
		for i := 0; i < 3000; i += 7 {
			k := "k" + strconv.Itoa(i)
			stored[k] = submit(t, s, db.NewTask{Key: k})
		}
		last := submit(t, s, db.NewTask{})
		var ts []db.NewTask
		for i := range 3000 {
			ts = append(ts, db.NewTask{Type: "exec", Name: strconv.Itoa(i), Key: "k" + strconv.Itoa(i)}, db.NewTask{Type: "exec"})
		}
		ts = append(ts, db.NewTask{Type: "exec", Key: "k1"}, db.NewTask{Type: "exec", Key: "k7"})
		rs, err := s.SubmitBatch(ctx, ts)
		require.NoError(t, err)
		require.Len(t, rs, len(ts))
		next, firstOf := last+1, map[string]int64{}
		for i, r := range rs {
			k := ts[i].Key
			switch id, ok := stored[k]; {
			case ok:
				require.Equal(t, db.SubmitResult{ID: id, Existed: true}, r, "task %d", i)
			case k != "" && firstOf[k] != 0:
				require.Equal(t, db.SubmitResult{ID: firstOf[k], Existed: true}, r, "task %d", i)
			default:
				require.Equal(t, db.SubmitResult{ID: next}, r, "task %d", i)
				if k != "" {
					firstOf[k] = next
				}
				next++
			}
		}
		got, err := s.Get(ctx, firstOf["k2999"])
		require.NoError(t, err)
		require.Equal(t, "2999", got.Name)
	})
}
