package db

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolSize is how many server connections a process's pool holds at most,
// whatever its number of workers: a task holds no connection while it runs,
// only the runner's short claims and writes do (its claim loop, writer,
// heartbeat and cancel check use one each at most). A runner also holds one
// connection of its own for LISTEN: 6 in all.
const PoolSize = 5

// Postgres is the Store on a PostgreSQL database, for runners on many
// hosts sharing one queue. Every time it stores comes from the server's
// clock (now()), never from a host's: hosts' clocks differ.
type Postgres struct {
	pool       *pgxpool.Pool
	loc        string // the URL without its password
	now        func() time.Time
	migrations []Migration
	pollOnly   bool
}

var _ Store = (*Postgres)(nil)

// nowSQL is the time of a statement: the server's now() (the start of the
// transaction), or a test clock's time passed as $1.
const nowSQL = "coalesce($1::timestamptz, now())"

// pgSQL writes nowSQL in place of each NOW in q. Every statement of this
// backend takes the clock as $1.
func pgSQL(q string) string { return strings.ReplaceAll(q, "NOW", nowSQL) }

// clock is the $1 of every statement: nil (the server's clock) unless a
// test gave a clock.
func (s *Postgres) clock() any {
	if s.now == nil {
		return nil
	}
	return s.now()
}

// OpenPostgres connects to the database at the URL opts.Path, refuses a
// schema newer than this binary, and migrates as opts says (a brand-new,
// empty database is migrated unless NoMigrate is set).
func OpenPostgres(ctx context.Context, opts Options) (*Postgres, error) {
	t, err := ParseTarget(opts.Path)
	if err != nil {
		return nil, err
	}
	ms := opts.Migrations
	if ms == nil {
		if ms, err = DialectMigrations(PostgresDialect); err != nil {
			return nil, err
		}
	}
	cfg, err := pgxpool.ParseConfig(t.url)
	if err != nil {
		return nil, &TargetError{Value: t.Location, Err: err}
	}
	cfg.MaxConns = PoolSize
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = time.Minute
	cfg.ConnConfig.RuntimeParams["application_name"] = "opsctl"
	// Every query opsctl runs is written for an index, but a queue's
	// statistics lag its churn (autovacuum analyzes a minute later, say),
	// and with them the planner chose sequential scans for claims and the
	// idle poll: 40 ms a claim at 100k pending, and a burn-down at 1.1k
	// tasks/s instead of 9k. A sequential scan is made a last resort for
	// opsctl's own sessions (a penalty, not a ban); the URL may say
	// otherwise.
	if _, set := cfg.ConnConfig.RuntimeParams["enable_seqscan"]; !set {
		cfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	}
	s := &Postgres{loc: t.Location, now: opts.Now, migrations: ms, pollOnly: t.PollOnly || opts.PollOnly}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, &UnavailableError{Path: s.loc, Err: err}
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, s.unavailable(err)
	}
	if err := s.init(ctx, opts); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// unavailable says in one line why the server cannot be used: the
// driver's reason without the connection details it prefixes (the URL's
// password is never in it).
func (s *Postgres) unavailable(err error) error {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	reason := err.Error()
	switch {
	case errors.As(err, &pe):
		reason = pe.Message
		if pe.Code == "3D000" {
			reason += " (create it, or check the URL)"
		}
	case errors.As(err, &ce):
		var oe *net.OpError
		if errors.As(ce, &oe) {
			reason = oe.Error()
		} else {
			reason = innermost(ce.Unwrap()).Error()
		}
	case errors.As(err, &ne):
		reason = ne.Error()
	}
	return &UnavailableError{Path: s.loc, Err: errors.New(reason)}
}

// innermost unwraps err to the error at the end of its chain, following
// the first of joined errors (one per address tried).
func innermost(err error) error {
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				next = errs[0]
			}
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		}
		if next == nil {
			return err
		}
		err = next
	}
}

// classify turns errors that mean the server cannot be reached or used
// into an UnavailableError, and a full disk into a FullError; other errors
// are returned as they are.
func (s *Postgres) classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100": // disk_full
			return &FullError{Path: s.loc, Err: err}
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "28"), pe.Code == "3D000",
			pe.Code == "57P03", pe.Code == "25006": // connection, auth, no database, cannot connect now, read-only
			return s.unavailable(err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return s.unavailable(err)
	}
	return err
}

// Location is the database URL without its password.
func (s *Postgres) Location() string { return s.loc }

// Dialect is PostgresDialect.
func (s *Postgres) Dialect() Dialect { return PostgresDialect }

// Close closes the pool.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

// tx runs fn in one transaction and commits it.
func (s *Postgres) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.classify(pgx.BeginFunc(ctx, s.pool, fn))
}

// batch sends b as one round trip: its statements run in one implicit
// transaction (one Sync ends the pipeline), all or nothing. read, if not
// nil, reads the results in order; the batch is closed after it.
func (s *Postgres) batch(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := s.pool.SendBatch(ctx, b)
	var err error
	if read != nil {
		err = read(br)
	}
	return s.classify(errors.Join(err, br.Close()))
}

// init checks the schema and migrates as allowed, as the SQLite store does.
func (s *Postgres) init(ctx context.Context, opts Options) error {
	st, err := readPGSchema(ctx, s.pool)
	if err != nil {
		return s.classify(fmt.Errorf("read schema: %w", err))
	}
	if err := st.check(s.loc, s.migrations); err != nil {
		return err
	}
	if opts.MustExist && st.empty {
		return &UnavailableError{Path: s.loc, Err: errors.New("no opsctl tables in this database (nothing was ever submitted to it; check --db or OPSCTL_DB)")}
	}
	pending := st.current() < len(s.migrations)
	if opts.NoMigrate {
		if opts.MustExist && pending {
			return &SchemaError{Path: s.loc, Current: st.current(), Latest: len(s.migrations)}
		}
		return nil
	}
	if pending && !st.empty && !opts.AutoMigrate {
		return &SchemaError{Path: s.loc, Current: st.current(), Latest: len(s.migrations), Disabled: true}
	}
	if !pending {
		return nil
	}
	_, err = s.Migrate(ctx, 0)
	return err
}

// pgQuerier is what reading the schema needs: a pool, a connection or a
// transaction.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readPGSchema reads the applied versions from the current schema.
func readPGSchema(ctx context.Context, q pgQuerier) (schemaState, error) {
	var st schemaState
	var tables, hasVersions int
	err := q.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE tablename = 'schema_migrations')
		FROM pg_tables WHERE schemaname = current_schema()`).Scan(&tables, &hasVersions)
	if err != nil {
		return st, err
	}
	st.empty = tables == 0
	if hasVersions == 0 {
		st.foreign = !st.empty
		return st, nil
	}
	rows, err := q.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return st, err
	}
	st.versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	return st, err
}

// MigrationStatus reports the applied and pending migrations.
func (s *Postgres) MigrationStatus(ctx context.Context) (MigrationStatus, error) {
	st, err := readPGSchema(ctx, s.pool)
	if err != nil {
		return MigrationStatus{}, s.classify(err)
	}
	return MigrationStatus{Current: st.current(), Latest: len(s.migrations), Pending: s.migrations[min(st.current(), len(s.migrations)):]}, nil
}

// migrateLock is the key of the advisory lock migrators take: one
// migrates, the others wait and then find nothing left to do.
const migrateLock = 0x6f707363746c // "opsctl"

// Migrate applies pending migrations up to target (0 means all) in one
// transaction, under an advisory lock so that concurrent migrators apply
// each migration once. DDL is transactional here: a failed migration
// leaves the schema as it was.
func (s *Postgres) Migrate(ctx context.Context, target int) ([]Migration, error) {
	if target == 0 || target > len(s.migrations) {
		target = len(s.migrations)
	}
	var applied []Migration
	err := s.tx(ctx, func(tx pgx.Tx) error {
		applied = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return err
		}
		st, err := readPGSchema(ctx, tx)
		if err != nil {
			return err
		}
		if err := st.check(s.loc, s.migrations); err != nil {
			return err
		}
		for _, m := range s.migrations[min(st.current(), target):target] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, pgSQL(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($2, $3, NOW)`),
				s.clock(), m.Version, m.Name); err != nil {
				return fmt.Errorf("record migration %d: %w", m.Version, err)
			}
			applied = append(applied, m)
		}
		return nil
	})
	return applied, err
}

// Backup writes nothing on PostgreSQL and returns "": the server's own
// tools (pg_dump) make backups, and a migration runs in one transaction.
func (s *Postgres) Backup(context.Context, int) (string, error) { return "", nil }
