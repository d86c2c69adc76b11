package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Options says how to open a SQLite store.
type Options struct {
	// Path is the database file. Its directory is created (0700) and a new
	// file is created 0600.
	Path string
	// AutoMigrate applies pending migrations to an existing database, after
	// writing a backup copy beside it. A new, empty database is always
	// migrated unless NoMigrate is set.
	AutoMigrate bool
	// NoMigrate opens without applying anything (for `opsctl migrate` itself).
	// A database newer than this binary is still refused.
	NoMigrate bool
	// MustExist opens only a file that is there already: neither it nor its
	// directory is created (read-only commands: a mistyped --db must not
	// leave an empty database behind).
	MustExist bool
	// Migrations replaces the built-in migrations (tests build old fixtures
	// with a prefix of them).
	Migrations []Migration
	// Now is the clock; nil means time.Now (SQLite) or the server's clock
	// (PostgreSQL).
	Now func() time.Time
	// PollOnly turns PostgreSQL's LISTEN off: runners poll (PgBouncer in
	// transaction mode passes no notifications).
	PollOnly bool
}

// SQLite is the Store on one SQLite file. Writes go through a single
// connection so this process never contends with itself for the write lock;
// reads use a small pool and, in WAL mode, never wait for writers.
type SQLite struct {
	path       string
	w          *sql.DB
	r          *sql.DB
	now        func() time.Time
	migrations []Migration
	stmts      stmtCache
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database at opts.Path, refuses a
// schema newer than this binary, and brings an older one up to date as
// opts says.
func OpenSQLite(ctx context.Context, opts Options) (*SQLite, error) {
	ms := opts.Migrations
	if ms == nil {
		var err error
		if ms, err = Migrations(); err != nil {
			return nil, err
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	readOnly := false
	if opts.MustExist {
		if err := existingFile(opts.Path); err != nil {
			return nil, &UnavailableError{Path: opts.Path, Err: err}
		}
		// A user who may read the file but not write it can still look:
		// the file is opened read-only, and a write is "read-only" (exit 6).
		readOnly = unix.Access(opts.Path, unix.W_OK) != nil
	} else if err := prepareFile(opts.Path); err != nil {
		return nil, &UnavailableError{Path: opts.Path, Err: err}
	}
	s := &SQLite{path: opts.Path, now: now, migrations: ms}
	conn := dsn(opts.Path)
	if readOnly {
		conn += "&mode=ro"
		// A WAL file is read through its -shm index, which a reader that
		// may not write cannot create. Without one, no process has the file
		// open, and it is read as immutable (no locks, no -shm).
		if _, err := os.Stat(opts.Path + "-shm"); errors.Is(err, os.ErrNotExist) {
			conn += "&immutable=1"
		}
		opts.NoMigrate = true
	}
	var err error
	if s.w, err = sql.Open("sqlite", conn); err != nil {
		return nil, &UnavailableError{Path: opts.Path, Err: err}
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	if s.r, err = sql.Open("sqlite", conn); err != nil {
		s.w.Close()
		return nil, &UnavailableError{Path: opts.Path, Err: err}
	}
	s.r.SetMaxOpenConns(4)
	if err := s.init(ctx, opts); err != nil {
		s.Close()
		return nil, err
	}
	s.prepareFlow(ctx) // sqlite_flow.go
	return s, nil
}

// busyTimeout is how long a statement waits for a lock another process
// holds before it fails with "database is locked".
const busyTimeout = 30 * time.Second

// dsn builds the connection string. Every write transaction begins
// IMMEDIATE, taking the write lock up front: a deferred transaction that
// reads and then writes can fail with "database is locked" no matter the
// busy timeout, while an immediate one simply waits its turn.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// prepareFile makes the directory and an empty file with private modes, so
// SQLite never creates the file with the process umask. A path that is a
// directory is refused here with a clear reason.
func prepareFile(path string) error {
	if path == "" {
		return errors.New("no database path")
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return errors.New("is a directory")
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil // another process created it first
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// existingFile checks that path is a file that exists.
func existingFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("no database here (nothing was ever submitted to it; check --db or OPSCTL_DB)")
	case err != nil:
		return err
	case fi.IsDir():
		return errors.New("is a directory")
	}
	return nil
}

// init checks the schema and migrates as allowed. Nothing is written to a
// database that is newer than this binary, or that must not be migrated:
// those checks run before the journal mode is set, since switching to WAL
// rewrites the file header.
func (s *SQLite) init(ctx context.Context, opts Options) error {
	st, err := s.readSchema(ctx)
	if err != nil {
		return err
	}
	if err := st.check(s.path, s.migrations); err != nil {
		return err
	}
	// Each early return below leaves the file as it was: opening for
	// `migrate` (status, dry run) and refusing a database that needs
	// migrating change nothing, not even the journal mode. `migrate`
	// itself writes in the default journal mode; the next open switches.
	pending := st.current() < len(s.migrations)
	if opts.NoMigrate {
		if opts.MustExist && pending {
			// Read-only: an older schema cannot be brought up to date.
			return &SchemaError{Path: s.path, Current: st.current(), Latest: len(s.migrations)}
		}
		return nil
	}
	if pending && !st.empty && !opts.AutoMigrate {
		return &SchemaError{Path: s.path, Current: st.current(), Latest: len(s.migrations), Disabled: true}
	}
	if err := s.setWAL(ctx); err != nil {
		return s.classify(fmt.Errorf("set WAL mode: %w", err))
	}
	if !pending {
		return nil
	}
	if !st.empty {
		if _, err := s.Backup(ctx, st.current()); err != nil {
			return err
		}
	}
	_, err = s.Migrate(ctx, 0)
	return err
}

// setWAL switches the file to WAL mode, which takes an exclusive lock.
// While another process holds the write lock (migrating the same new
// file, say), SQLite answers "database is locked" at once instead of
// waiting as busy_timeout says (waiting could deadlock), so the switch is
// tried again until the busy timeout would have given up.
func (s *SQLite) setWAL(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		_, err := s.w.ExecContext(ctx, "PRAGMA journal_mode=WAL")
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
}

// Path is the database file.
func (s *SQLite) Path() string { return s.path }

// Location is the database file.
func (s *SQLite) Location() string { return s.path }

// Dialect is SQLiteDialect.
func (s *SQLite) Dialect() Dialect { return SQLiteDialect }

// Close closes both connection pools.
func (s *SQLite) Close() error {
	s.stmts.close()
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// tx runs fn in one write transaction (BEGIN IMMEDIATE) and commits it.
func (s *SQLite) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.classify(err)
	}
	if err := withSearchIndex(ctx, tx, fn); err != nil {
		tx.Rollback()
		return s.classify(err)
	}
	return s.classify(tx.Commit())
}

// classify turns SQLite errors that mean "this file cannot be used" into an
// UnavailableError, and a full database or disk into a FullError (which
// names the file, unlike the driver's "(13)"), leaving other errors as they
// are.
func (s *SQLite) classify(err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	var reason string
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return &FullError{Path: s.path, Err: err}
	case sqlite3.SQLITE_NOTADB:
		reason = "file is not a database"
	case sqlite3.SQLITE_CORRUPT:
		reason = "database file is corrupt"
	case sqlite3.SQLITE_READONLY:
		reason = "database is read-only"
	case sqlite3.SQLITE_CANTOPEN:
		reason = "cannot open the file"
	case sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH:
		reason = "permission denied"
	case sqlite3.SQLITE_IOERR:
		reason = "disk I/O error"
	default:
		return err
	}
	return &UnavailableError{Path: s.path, Err: errors.New(reason)}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}
