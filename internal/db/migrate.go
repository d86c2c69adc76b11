package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// schemaState is what a database records about its schema.
type schemaState struct {
	empty    bool  // no tables at all: a brand-new file
	foreign  bool  // tables, but no schema_migrations: another program's file
	versions []int // applied versions, ascending
}

func (st schemaState) current() int {
	if len(st.versions) == 0 {
		return 0
	}
	return st.versions[len(st.versions)-1]
}

// check refuses a database that records a version this binary does not
// know, and one whose recorded versions are not a prefix 1..N: a version
// recorded without the ones before it says nothing certain about the
// schema, so it is a SchemaError too, marked Damaged.
func (st schemaState) check(path string, ms []Migration) error {
	if st.foreign {
		return &SchemaError{Path: path, Latest: len(ms), Foreign: true}
	}
	for i, v := range st.versions {
		if v > len(ms) {
			return &SchemaError{Path: path, Current: st.current(), Latest: len(ms), Unknown: v}
		}
		if v != i+1 {
			return &SchemaError{Path: path, Current: st.current(), Latest: len(ms), Damaged: true, Missing: st.missing()}
		}
	}
	return nil
}

// missing is the lowest version from 1 up that is not recorded, if it is
// below the highest recorded; 0 if there is none.
func (st schemaState) missing() int {
	for i, v := range st.versions {
		if v > i+1 {
			return i + 1
		}
	}
	return 0
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
		st.foreign = !st.empty
		return st, nil
	}
	st.versions, err = readVersions(ctx, s.r)
	if err != nil {
		return st, s.classify(fmt.Errorf("read schema versions: %w", err))
	}
	return st, nil
}

// readVersions reads the recorded versions, ascending.
func readVersions(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
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
		st, err := lockedSchema(ctx, tx)
		if err != nil {
			return err
		}
		if err := st.check(s.path, s.migrations); err != nil {
			return err
		}
		for _, m := range s.migrations[min(st.current(), target):target] {
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

// lockedSchema reads the recorded versions inside a write transaction.
func lockedSchema(ctx context.Context, tx *sql.Tx) (schemaState, error) {
	var st schemaState
	var tables, n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(name = 'schema_migrations'), 0)
		FROM sqlite_master WHERE type = 'table'`).Scan(&tables, &n); err != nil {
		return st, err
	}
	st.empty = tables == 0
	if n == 0 {
		st.foreign = !st.empty
		return st, nil
	}
	var err error
	st.versions, err = readVersions(ctx, tx)
	return st, err
}

// Backup writes a consistent copy of the database beside it, named after
// the version it holds, and returns the copy's path. The copy is private
// from its first byte and appears under its name only when complete: it is
// written to NAME.tmp, created 0600 beforehand (VACUUM INTO fills an
// existing empty file and keeps its mode), synced, and renamed. On any
// failure the temporary file is removed. A NAME.tmp that exists already
// belongs to another process writing the same backup, and is left alone.
func (s *SQLite) Backup(ctx context.Context, version int) (string, error) {
	stamp := strings.ReplaceAll(s.now().UTC().Format("20060102T150405.000Z"), ".", "")
	dst := fmt.Sprintf("%s.v%d-%s.bak", s.path, version, stamp)
	if _, err := os.Stat(dst); err == nil {
		return "", fmt.Errorf("backup %s already exists", dst)
	}
	tmp := dst + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("backup: %w", err)
	}
	if err := s.writeBackup(ctx, tmp, dst); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return dst, nil
}

// writeBackup fills the empty file tmp with a copy of the database, makes
// it durable, and renames it to dst.
func (s *SQLite) writeBackup(ctx context.Context, tmp, dst string) error {
	if _, err := s.w.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return s.classify(fmt.Errorf("backup to %s: %w", dst, err))
	}
	// VACUUM INTO does not sync what it wrote.
	if err := syncPath(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("backup %s already exists", dst)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// The rename is durable once the directory is synced. Failing that, the
	// backup is complete under its name, only perhaps not yet on disk.
	_ = syncPath(filepath.Dir(dst))
	return nil
}

// syncPath flushes a file or directory to stable storage.
func syncPath(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}
