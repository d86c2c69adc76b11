package commands

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/db"
)

// taskCost is the cost_usd of a task's result (an agent run whose model
// has a price in agent.prices), and whether it has one.
func taskCost(t db.Task) (float64, bool) {
	if len(t.Result) == 0 {
		return 0, false
	}
	var r struct {
		CostUSD *float64 `json:"cost_usd"`
	}
	if json.Unmarshal(t.Result, &r) != nil || r.CostUSD == nil {
		return 0, false
	}
	return *r.CostUSD, true
}

// anyCost reports whether a task of ts has a cost.
func anyCost(ts []db.Task) bool {
	for _, t := range ts {
		if _, ok := taskCost(t); ok {
			return true
		}
	}
	return false
}

// costCell is a cost in a table: "$0.0123" on a terminal; piped, a plain
// number of dollars rounded to the micro-dollar ("0.0123"), for scripts;
// "-" when the cost is not known.
func costCell(v float64, known, tty bool) string {
	switch {
	case !known:
		return "-"
	case tty:
		return agent.FormatUSD(v)
	}
	return plainUSD(v)
}

// plainUSD is an amount of dollars as a plain number, rounded to the
// micro-dollar so that float noise (0.0035000000000000005) stays out.
func plainUSD(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

// eventCost is the cost_usd of a model event, and whether it has one.
func eventCost(d map[string]any) (float64, bool) {
	v, ok := d["cost_usd"].(float64)
	return v, ok
}
