package db

import (
	"context"
	"time"
)

// PruneHook watches a Prune from a test (see pruneHook).
type PruneHook struct {
	// AfterTx is called after each write transaction of the prune commits,
	// with the rows it changed (events and tasks, cascades included) and
	// how long it held the write lock.
	AfterTx func(rows int64, held time.Duration)
	// Between is called in the pause between two write transactions, where
	// other writers get their turn.
	Between func()
}

// WithPruneHook returns a context that makes Prune call h.
func WithPruneHook(ctx context.Context, h PruneHook) context.Context {
	return context.WithValue(ctx, pruneHookKey{}, &pruneHook{afterTx: h.AfterTx, between: h.Between})
}

// PruneRows is the most rows one prune transaction deletes.
const PruneRows = pruneRows
