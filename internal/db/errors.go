package db

import (
	"errors"
	"fmt"
)

// ErrNotFound is wrapped by errors about a task id that does not exist.
var ErrNotFound = errors.New("not found")

// NotFoundError says which task id does not exist.
type NotFoundError struct{ ID int64 }

func (e *NotFoundError) Error() string { return fmt.Sprintf("task %d not found", e.ID) }

// Unwrap lets errors.Is(err, ErrNotFound) match.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// ErrTokenExists is returned by CreateToken for a name already taken.
var ErrTokenExists = errors.New("a token of that name exists")

// TokenNotFoundError says no token has that name.
type TokenNotFoundError struct{ Name string }

func (e *TokenNotFoundError) Error() string { return fmt.Sprintf("no token named %q", e.Name) }

// Unwrap lets errors.Is(err, ErrNotFound) match.
func (e *TokenNotFoundError) Unwrap() error { return ErrNotFound }

// TransitionError is a state change the state machine does not allow.
type TransitionError struct {
	ID       int64
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("task %d is %s: cannot move it to %s", e.ID, e.From, e.To)
}

// SchemaError says the database's schema does not match this binary.
type SchemaError struct {
	Path     string
	Current  int  // highest version recorded in the database
	Latest   int  // highest version this binary knows
	Unknown  int  // a recorded version this binary does not know; 0 if none
	Disabled bool // pending migrations, and auto-migration is off
	// Damaged says schema_migrations does not record versions 1 to Current
	// each once, so what the schema holds is not known; `opsctl migrate`
	// cannot help. Missing is then the lowest version below Current that
	// is not recorded, or 0 if none is (a version below 1 is recorded).
	Damaged bool
	Missing int
	// Foreign says the file holds tables but no schema_migrations: it is
	// another program's SQLite file, and opsctl never migrates into it.
	Foreign bool
}

func (e *SchemaError) Error() string {
	if e.Foreign {
		return fmt.Sprintf("database %s holds tables but no opsctl schema (no schema_migrations): not an opsctl database; pick another --db", e.Path)
	}
	if e.Damaged {
		if e.Missing > 0 {
			return fmt.Sprintf("database %s: schema_migrations is damaged: version %d is recorded without version %d", e.Path, e.Current, e.Missing)
		}
		return fmt.Sprintf("database %s: schema_migrations is damaged: it records versions other than 1 to %d", e.Path, e.Current)
	}
	if e.Unknown != 0 {
		return fmt.Sprintf("database %s has schema version %d, newer than this opsctl knows (latest %d); upgrade opsctl", e.Path, e.Unknown, e.Latest)
	}
	return fmt.Sprintf("database %s is at schema version %d, this opsctl needs %d; run 'opsctl migrate'", e.Path, e.Current, e.Latest)
}

// UnavailableError says the database file cannot be used at all.
type UnavailableError struct {
	Path string
	Err  error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("database %s unavailable: %v", e.Path, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// FullError says a write failed because the database or its disk is full
// (SQLITE_FULL). It is not an UnavailableError: the file is still usable,
// reads work, and writes succeed again once space is freed, so a
// long-running runner keeps retrying through it.
type FullError struct {
	Path string
	Err  error // the driver's error
}

func (e *FullError) Error() string {
	return fmt.Sprintf("database %s: database or disk is full (SQLITE_FULL)", e.Path)
}

func (e *FullError) Unwrap() error { return e.Err }
