package db

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Backend is a Store with what the commands that manage the database
// need. Open returns one for either dialect.
type Backend interface {
	Store
	Dialect() Dialect
	// Location names the database for people: a file path, or a URL
	// without its password.
	Location() string
	MigrationStatus(ctx context.Context) (MigrationStatus, error)
	Migrate(ctx context.Context, target int) ([]Migration, error)
	// Backup copies the database before a migration and returns where it
	// went; "" when the backend leaves backups to the server's tools.
	Backup(ctx context.Context, version int) (string, error)
	// Doctor reports on the database's health.
	Doctor(ctx context.Context) (Doctor, error)
}

var (
	_ Backend = (*SQLite)(nil)
	_ Backend = (*Postgres)(nil)
)

// Waker is a Store that can tell a waiting runner that tasks were
// submitted, so it claims them at once instead of at its next poll.
type Waker interface {
	// Wake returns a channel that receives a value (at most one queued)
	// after tasks became ready; it is closed when ctx ends. A nil channel
	// means the store cannot tell (it is polled).
	Wake(ctx context.Context) (<-chan struct{}, error)
}

// Target is a parsed --db value.
type Target struct {
	Dialect Dialect
	// Path is the SQLite file.
	Path string
	// Location names the database for people: the path, or the URL with
	// its password replaced.
	Location string
	// PollOnly is set by the URL parameter opsctl_poll_only=1: no LISTEN
	// (PgBouncer in transaction mode).
	PollOnly bool
	url      string // the URL for the driver, without opsctl's own parameters
}

// TargetError is a --db value that names no database opsctl can open: a
// malformed URL or an unknown scheme. Nothing was opened or written.
type TargetError struct {
	Value string // with any password replaced
	Err   error
}

func (e *TargetError) Error() string { return fmt.Sprintf("--db %s: %v", e.Value, e.Err) }

func (e *TargetError) Unwrap() error { return e.Err }

var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// pollOnlyParam is the URL parameter that turns LISTEN off.
const pollOnlyParam = "opsctl_poll_only"

// ParseTarget reads a --db value: a postgres:// or postgresql:// URL, a
// sqlite:// URL or file: name, or else a file path. Any other scheme://
// is refused rather than taken for a path.
func ParseTarget(v string) (Target, error) {
	m := schemeRE.FindStringSubmatch(v)
	switch {
	case strings.HasPrefix(v, "file:"):
		p := strings.TrimPrefix(v, "file:")
		p, _, _ = strings.Cut(p, "?")
		if strings.HasPrefix(p, "//") {
			p = strings.TrimPrefix(p, "//")
		}
		return Target{Dialect: SQLiteDialect, Path: p, Location: p}, nil
	case m == nil:
		return Target{Dialect: SQLiteDialect, Path: v, Location: v}, nil
	}
	switch strings.ToLower(m[1]) {
	case "sqlite", "sqlite3":
		p := v[len(m[0]):]
		p, _, _ = strings.Cut(p, "?")
		if p == "" {
			return Target{}, &TargetError{Value: v, Err: fmt.Errorf("no file path after %s", m[0])}
		}
		return Target{Dialect: SQLiteDialect, Path: p, Location: p}, nil
	case "postgres", "postgresql":
	default:
		return Target{}, &TargetError{Value: redactURL(v),
			Err: fmt.Errorf("unknown database scheme %q (use a file path, or a postgres:// URL)", m[1])}
	}
	u, err := url.Parse(v)
	if err != nil {
		return Target{}, &TargetError{Value: "(the URL given)", Err: fmt.Errorf("malformed URL: %v", unquoteURLError(err))}
	}
	t := Target{Dialect: PostgresDialect, Location: redactURL(v), url: v}
	q := u.Query()
	if q.Has(pollOnlyParam) {
		switch q.Get(pollOnlyParam) {
		case "1", "true", "on", "yes":
			t.PollOnly = true
		case "0", "false", "off", "no":
		default:
			return Target{}, &TargetError{Value: t.Location, Err: fmt.Errorf("%s must be 1 or 0", pollOnlyParam)}
		}
		q.Del(pollOnlyParam)
		// Rebuilt by hand: url.URL.String would turn postgres:// (every
		// part from the PG* variables) into postgres:.
		t.url, _, _ = strings.Cut(v, "?")
		if len(q) > 0 {
			t.url += "?" + q.Encode()
		}
	}
	return t, nil
}

// unquoteURLError drops the URL itself from a url.Parse error, which would
// carry its password.
func unquoteURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// redactURL replaces the password of a URL, in its user part or a
// password parameter, with xxxxx.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return "(a malformed URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Open opens the database opts.Path names: a PostgreSQL URL or a SQLite
// file. It is the one place the backend is chosen.
func Open(ctx context.Context, opts Options) (Backend, error) {
	t, err := ParseTarget(opts.Path)
	if err != nil {
		return nil, err
	}
	if t.Dialect == PostgresDialect {
		return OpenPostgres(ctx, opts)
	}
	opts.Path = t.Path
	return OpenSQLite(ctx, opts)
}

// RedactLocation is a --db value as it may be shown: a URL's password is
// replaced; a path is shown as it is.
func RedactLocation(v string) string {
	if schemeRE.MatchString(v) {
		return redactURL(v)
	}
	return v
}
