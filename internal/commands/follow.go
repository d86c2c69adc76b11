package commands

import (
	"context"

	"github.com/opsctl/opsctl/internal/db"
)

// followTask is `submit --follow`: it prints the task's log as
// `opsctl logs -f` does until the task is finished, then returns its
// outcome as `opsctl wait` does: nil when it completed, else a silent exit
// 1 (failed) or 5 (cancelled). Interrupted, it returns the context's error
// (exit 130); the task goes on.
func followTask(ctx context.Context, f *Factory, s db.Store, id int64) error {
	// Every field spelled out: logs' zero values are not all its defaults
	// (Tail 0 would show none of the past). The outcome is read here, not
	// with ExitStatus, so that it is told the same way as wait tells it.
	opts := &LogsOptions{F: f, ID: id, Follow: true, Output: "text", Tail: -1, ExitStatus: false}
	if err := runLogs(ctx, opts); err != nil {
		return err
	}
	t, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if code := outcomeCode(t.Status); code != ExitOK {
		return silentExit(code)
	}
	return nil
}
