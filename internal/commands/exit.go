package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/opsctl/opsctl/internal/db"
)

// The exit codes, as DESIGN.md and `opsctl help exit-codes` list them. This
// is the only place they are defined.
const (
	ExitOK          = 0
	ExitError       = 1 // an error; for wait: the task failed
	ExitUsage       = 2 // bad flag, argument or input; nothing was written
	ExitNotFound    = 3
	ExitSchema      = 4
	ExitCancelled   = 5 // for wait: the task was cancelled
	ExitUnavailable = 6
	ExitTimeout     = 124 // for wait --timeout
	ExitInterrupted = 130
)

// exitError carries an explicit exit code. A nil Err means nothing is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as bad input: exit 2.
func usageErr(err error) error { return &exitError{code: ExitUsage, err: err} }

// usageErrorf is a formatted usage error.
func usageErrorf(format string, args ...any) error {
	return usageErr(fmt.Errorf(format, args...))
}

// silentExit ends the command with code and prints nothing more.
func silentExit(code int) error { return &exitError{code: code} }

// exitCode maps an error to the exit-code table.
func exitCode(err error) int {
	var ee *exitError
	var se *db.SchemaError
	var ue *db.UnavailableError
	var te *db.TargetError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &te):
		return ExitUsage
	case errors.Is(err, db.ErrNotFound):
		return ExitNotFound
	case errors.As(err, &se):
		return ExitSchema
	case errors.As(err, &ue):
		return ExitUnavailable
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitError
}

// hint adds a "Try: ..." line for errors a user can act on.
func hint(err error) string {
	var se *db.SchemaError
	if errors.As(err, &se) && se.Unknown == 0 && !se.Damaged && !se.Foreign {
		return "Try: opsctl migrate"
	}
	return ""
}

const exitCodesHelp = `opsctl exits with one of these codes:

  0    success; for wait and submit --wait: the task completed
  1    error; for wait: the task failed
  2    usage: bad flag, argument or input; nothing was written
  3    not found: no task with that id; no such token, schedule, queue
       or notify rule
  4    schema: the database is newer than this binary, or needs 'opsctl migrate';
       or its schema_migrations is damaged, or it is not an opsctl database
  5    for wait: the task was cancelled
  6    database unavailable: cannot open, not a database, read-only
  124  for wait --timeout: gave up before the task finished
  130  interrupted

With several ids, wait exits with the worst code among them
(124 > 5 > 1 > 0: a timeout outranks a cancel, which outranks a failure).
'opsctl run --once' exits 0 even when tasks failed; it exits non-zero only
when the runner itself could not work.
`
