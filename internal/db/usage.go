package db

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// UsageStore is the part of the Store for tokens and cost by model, queue or type.
type UsageStore interface {
	// Usage sums up the tasks that finished (completed, failed or
	// cancelled) at or after since, grouped by by (UsageByModel,
	// UsageByQueue or UsageByType): how many, how many failed, and the
	// tokens and cost their results record (an agent result's usage and
	// cost_usd). Rows are in key order (byte order), one per key that has
	// a task; none when nothing finished. A zero since means all time.
	Usage(ctx context.Context, since time.Time, by string) ([]UsageRow, error)
}

// The groupings of Usage.
const (
	UsageByModel = "model" // the result's model (as the provider reported it); "" for none
	UsageByQueue = "queue"
	UsageByType  = "type"
)

// UsageGroupings lists the groupings Usage takes.
func UsageGroupings() []string { return []string{UsageByModel, UsageByQueue, UsageByType} }

// UsageRow is one group of Usage.
type UsageRow struct {
	// Key is the model, queue or type; a task whose result names no model
	// (exec tasks, agent runs that failed before a model answered) has "".
	Key    string
	Tasks  int64 // finished tasks
	Failed int64 // of which failed
	// The token counts the results record, summed; results without them
	// (exec tasks) add nothing.
	InputTokens       int64
	CachedInputTokens int64
	OutputTokens      int64
	TotalTokens       int64
	// CostUSD sums the results' cost_usd; Costed counts the tasks that had
	// one. Costed 0 means the cost is unknown (no prices configured), not 0.
	CostUSD float64
	Costed  int64
}

// checkUsageBy refuses a grouping Usage does not know.
func checkUsageBy(by string) error {
	for _, g := range UsageGroupings() {
		if by == g {
			return nil
		}
	}
	return fmt.Errorf("usage: cannot group by %q: want %s", by, strings.Join(UsageGroupings(), ", "))
}

// sortUsage orders rows by key, byte by byte on both backends (PostgreSQL's
// ORDER BY follows the database's collation).
func sortUsage(rows []UsageRow) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
}
