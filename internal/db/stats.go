package db

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// MaxStatsBuckets is how many buckets one Stats call returns at most: a
// week of minutes, or a year of hours, and then some.
const MaxStatsBuckets = 20_000

// statsWindow returns the start of the first bucket (since truncated down
// to a multiple of bucket) and how many buckets run from it to now, the
// last one holding now. Since after now gives no buckets.
func statsWindow(since, now time.Time, bucket time.Duration) (time.Time, int, error) {
	if bucket < time.Millisecond || bucket%time.Millisecond != 0 {
		return time.Time{}, 0, fmt.Errorf("stats: bucket %s: want a positive whole number of milliseconds", bucket)
	}
	start := since.Truncate(bucket).UTC()
	if start.After(now) {
		return start, 0, nil
	}
	n := now.Sub(start)/bucket + 1
	if n > MaxStatsBuckets || n < 0 {
		return start, 0, fmt.Errorf("stats: %s buckets from %s to now are more than %d; take a later since or a longer bucket",
			bucket, start.Format(time.RFC3339), MaxStatsBuckets)
	}
	return start, int(n), nil
}

// newBuckets returns n empty buckets from start.
func newBuckets(start time.Time, bucket time.Duration, n int) []StatsBucket {
	bs := make([]StatsBucket, n)
	for i := range bs {
		bs[i].Start = start.Add(time.Duration(i) * bucket)
	}
	return bs
}

// addToBucket adds n tasks of a final status to bucket i, if it is one.
func addToBucket(bs []StatsBucket, i int64, st Status, n int64) {
	if i < 0 || i >= int64(len(bs)) {
		return
	}
	switch st {
	case StatusCompleted:
		bs[i].Completed += n
	case StatusFailed:
		bs[i].Failed += n
	case StatusCancelled:
		bs[i].Cancelled += n
	}
}

// msDuration is a duration given in (fractional) milliseconds.
func msDuration(v float64) time.Duration {
	return time.Duration(math.Round(v * float64(time.Millisecond)))
}

// sortDurations orders durations by type name, byte by byte on both
// backends (PostgreSQL's ORDER BY follows the database's collation).
func sortDurations(ds []TypeDuration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].Type < ds[j].Type })
}

// finalStatuses is the SQL list of the statuses a task finishes in.
const finalStatuses = `('completed', 'failed', 'cancelled')`

// typeRuns gathers the run times, in milliseconds, of one type's tasks.
type typeRuns struct {
	failed int64
	ms     []int64
}

// summary is the TypeDuration of runs: the median of an even count is the
// mean of the two middle values (as PostgreSQL's percentile_cont(0.5)).
func (r *typeRuns) summary(typ string) TypeDuration {
	slices.Sort(r.ms)
	n := len(r.ms)
	var sum int64
	for _, v := range r.ms {
		sum += v
	}
	return TypeDuration{Type: typ, Count: int64(n), Failed: r.failed,
		Avg: msDuration(float64(sum) / float64(n)), P50: msDuration(float64(r.ms[(n-1)/2]+r.ms[n/2]) / 2),
		Max: time.Duration(r.ms[n-1]) * time.Millisecond}
}

// Stats counts the tasks that finished in each bucket from since to now,
// by final status, and how long tasks of each type ran over those that
// finished at or after since.
//
// It reads the window's rows from tasks_finished alone (the index holds
// every column needed) in one pass, and counts and sums them here: SQLite
// sorts for a GROUP BY, and sorting the rows of a window, for the buckets,
// the types and the medians, took five times as long as reading them
// (7.6 s against 1.5 s for 900,000 tasks). The cost grows with the tasks
// in the window, not the table.
func (s *SQLite) Stats(ctx context.Context, since time.Time, bucket time.Duration) (Stats, error) {
	now := s.now()
	start, n, err := statsWindow(since, now, bucket)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Buckets: newBuckets(start, bucket, n), Durations: []TypeDuration{}}
	from, sinceMS, bucketMS := ms(start), ms(since), bucket.Milliseconds()
	if n == 0 {
		from = sinceMS // since is ahead of now: no buckets, and nothing finished
	}
	rows, err := s.r.QueryContext(ctx, `SELECT finished_at, status, type, started_at FROM tasks INDEXED BY tasks_finished
		WHERE finished_at >= ? AND finished_at <= ?`, min(from, sinceMS), ms(now))
	if err != nil {
		return Stats{}, s.classify(err)
	}
	defer rows.Close()
	runs := map[string]*typeRuns{}
	var finished int64
	var status, typ sql.RawBytes
	var started sql.NullInt64
	for rows.Next() {
		if err := rows.Scan(&finished, &status, &typ, &started); err != nil {
			return Stats{}, s.classify(err)
		}
		fs := Status(status)
		if !fs.Finished() {
			continue
		}
		if finished >= from {
			addToBucket(st.Buckets, (finished-from)/bucketMS, fs, 1)
		}
		if finished < sinceMS || !started.Valid {
			continue
		}
		r := runs[string(typ)]
		if r == nil {
			r = &typeRuns{}
			runs[string(typ)] = r
		}
		r.ms = append(r.ms, finished-started.Int64)
		if fs == StatusFailed {
			r.failed++
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, s.classify(err)
	}
	for typ, r := range runs {
		st.Durations = append(st.Durations, r.summary(typ))
	}
	sortDurations(st.Durations)
	return st, nil
}
