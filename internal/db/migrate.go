package db

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
)

// schemaState is what a database records about its schema.
type schemaState struct {
	empty    bool  // no tables at all: a brand-new file
	versions []int // applied versions, ascending
}

func (st schemaState) current() int {
	if len(st.versions) == 0 {
		return 0
	}
	return st.versions[len(st.versions)-1]
}

// check refuses a database that records a version this binary does not
// know, and one whose recorded versions are not a prefix 1..N.
func (st schemaState) check(path string, ms []Migration) error {
	for i, v := range st.versions {
		if v > len(ms) {
			return &SchemaError{Path: path, Current: st.current(), Latest: len(ms), Unknown: v}
		}
		if v != i+1 {
			return fmt.Errorf("database %s: schema_migrations is damaged: version %d recorded without %d", path, v, i+1)
		}
	}
	return nil
}

// readSchema reads applied versions without writing anything.
func (s *SQLite) readSchema(ctx context.Context) (schemaState, error) {
	var st schemaState
	var tables, hasVersions int
	err := s.r.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(name = 'schema_migrations'), 0)
		FROM sqlite_master WHERE type = 'table'`).Scan(&tables, &hasVersions)
	if err != nil {
		return st, s.classify(fmt.Errorf("read schema: %w", err))
	}
	st.empty = tables == 0
	if hasVersions == 0 {
		return st, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return st, s.classify(fmt.Errorf("read schema versions: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return st, err
		}
		st.versions = append(st.versions, v)
	}
	return st, rows.Err()
}

// MigrationStatus says where a database stands.
type MigrationStatus struct {
	Current int
	Latest  int
	Pending []Migration
}

// MigrationStatus reports the applied and pending migrations.
func (s *SQLite) MigrationStatus(ctx context.Context) (MigrationStatus, error) {
	st, err := s.readSchema(ctx)
	if err != nil {
		return MigrationStatus{}, err
	}
	return MigrationStatus{
		Current: st.current(),
		Latest:  len(s.migrations),
		Pending: s.migrations[st.current():],
	}, nil
}

// Migrate applies pending migrations up to target (0 means all) in one
// transaction and returns what it applied. Several processes may call it at
// once: the write lock is taken first and the versions re-read under it, so
// each migration runs exactly once.
func (s *SQLite) Migrate(ctx context.Context, target int) ([]Migration, error) {
	if target == 0 || target > len(s.migrations) {
		target = len(s.migrations)
	}
	var applied []Migration
	err := s.tx(ctx, func(tx *sql.Tx) error {
		applied = nil
		current, err := currentVersion(ctx, tx)
		if err != nil {
			return err
		}
		if current > len(s.migrations) {
			return &SchemaError{Path: s.path, Current: current, Latest: len(s.migrations), Unknown: current}
		}
		for _, m := range s.migrations[current:target] {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, ms(s.now())); err != nil {
				return fmt.Errorf("record migration %d: %w", m.Version, err)
			}
			applied = append(applied, m)
		}
		return nil
	})
	return applied, err
}

func currentVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var n int
	if err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Backup writes a consistent copy of the database beside it, named after
// the version it holds, and returns the copy's path.
func (s *SQLite) Backup(ctx context.Context, version int) (string, error) {
	stamp := strings.ReplaceAll(s.now().UTC().Format("20060102T150405.000Z"), ".", "")
	dst := fmt.Sprintf("%s.v%d-%s.bak", s.path, version, stamp)
	if _, err := os.Stat(dst); err == nil {
		return "", fmt.Errorf("backup %s already exists", dst)
	}
	if _, err := s.w.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return "", s.classify(fmt.Errorf("backup to %s: %w", dst, err))
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return "", err
	}
	return dst, nil
}
