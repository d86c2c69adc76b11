package db

import (
	"context"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// Doctor is what `opsctl db doctor` reports about a database's health.
// Fields that do not apply to a backend are left zero (and out of JSON).
type Doctor struct {
	Dialect       Dialect     `json:"dialect"`
	Location      string      `json:"location"`
	SchemaVersion int         `json:"schema_version"`
	Tables        []TableStat `json:"tables"`
	Indexes       []IndexStat `json:"indexes,omitempty"`

	// SQLite.
	FileBytes int64  `json:"file_bytes,omitempty"`
	WALBytes  int64  `json:"wal_bytes,omitempty"`
	PageSize  int64  `json:"page_size,omitempty"`
	Pages     int64  `json:"pages,omitempty"`
	FreePages int64  `json:"free_pages,omitempty"`
	Integrity string `json:"integrity,omitempty"` // "ok", or what integrity_check found

	// PostgreSQL.
	ServerVersion string `json:"server_version,omitempty"`
	// OldestTransaction is the age of the oldest open transaction in this
	// database (it holds back vacuum); 0 when none is open.
	OldestTransaction time.Duration `json:"oldest_transaction_ns,omitempty"`
	// NotifyQueueUsage is pg_notification_queue_usage(): the fraction of
	// the NOTIFY queue in use (a listener that stopped reading fills it).
	NotifyQueueUsage float64 `json:"notify_queue_usage"`
	Connections      int     `json:"connections,omitempty"` // this database's server connections
}

// TableStat is one table's size and, on PostgreSQL, its vacuum state.
type TableStat struct {
	Name           string    `json:"name"`
	Rows           int64     `json:"rows"`
	Bytes          int64     `json:"bytes"`
	IndexBytes     int64     `json:"index_bytes,omitempty"`
	DeadRows       int64     `json:"dead_rows,omitempty"`
	LastAutovacuum time.Time `json:"last_autovacuum,omitzero"`
}

// IndexStat is one index's size.
type IndexStat struct {
	Name  string `json:"name"`
	Table string `json:"table"`
	Bytes int64  `json:"bytes"`
}

// doctorTables are the tables Doctor counts, in this order: the tasks and
// what references them, then the rest. (The SQLite search index is left
// out: PostgreSQL has none as a table; its index shows under tasks.)
func doctorTables() []string {
	return []string{"tasks", "task_events", "approvals", "task_checkpoints", "task_deps", "notify_outbox",
		"runners", "tokens", "schedules", "queues", "notify_rules", "schema_migrations"}
}

// Doctor reports the file's size, its WAL's, page counts, row counts and
// an integrity check (which reads the whole file).
func (s *SQLite) Doctor(ctx context.Context) (Doctor, error) {
	d := Doctor{Dialect: SQLiteDialect, Location: s.path}
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		return d, err
	}
	d.SchemaVersion = st.Current
	if fi, err := os.Stat(s.path); err == nil {
		d.FileBytes = fi.Size()
	}
	if fi, err := os.Stat(s.path + "-wal"); err == nil {
		d.WALBytes = fi.Size()
	}
	q := s.r.QueryRowContext
	if err := q(ctx, `SELECT page_size, page_count, freelist_count FROM pragma_page_size, pragma_page_count, pragma_freelist_count`).
		Scan(&d.PageSize, &d.Pages, &d.FreePages); err != nil {
		return d, s.classify(err)
	}
	for _, name := range doctorTables() {
		t := TableStat{Name: name}
		if err := q(ctx, `SELECT count(*) FROM `+name).Scan(&t.Rows); err != nil {
			return d, s.classify(err)
		}
		// dbstat is not built in everywhere; sizes are left 0 without it.
		_ = q(ctx, `SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?`, name).Scan(&t.Bytes)
		d.Tables = append(d.Tables, t)
	}
	if err := q(ctx, `PRAGMA integrity_check(1)`).Scan(&d.Integrity); err != nil {
		return d, s.classify(err)
	}
	return d, nil
}

// Doctor reports table and index sizes, dead rows and the last autovacuum
// of each table, the oldest open transaction's age, the NOTIFY queue's use
// and the connections to this database.
func (s *Postgres) Doctor(ctx context.Context) (Doctor, error) {
	d := Doctor{Dialect: PostgresDialect, Location: s.loc}
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		return d, err
	}
	d.SchemaVersion = st.Current
	var oldest float64
	err = s.pool.QueryRow(ctx, `SELECT current_setting('server_version'),
		coalesce((SELECT extract(epoch FROM max(clock_timestamp() - xact_start)) FROM pg_stat_activity
			WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()), 0),
		pg_notification_queue_usage(),
		(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())`).
		Scan(&d.ServerVersion, &oldest, &d.NotifyQueueUsage, &d.Connections)
	if err != nil {
		return d, s.classify(err)
	}
	d.OldestTransaction = time.Duration(oldest * float64(time.Second)).Round(time.Millisecond)
	rows, err := s.pool.Query(ctx, `SELECT c.relname, (CASE WHEN c.reltuples < 0 THEN coalesce(st.n_live_tup, 0) ELSE c.reltuples::bigint END), pg_table_size(c.oid), pg_indexes_size(c.oid),
			coalesce(st.n_dead_tup, 0), st.last_autovacuum
		FROM pg_class c LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relname = ANY($1)
		ORDER BY array_position($1, c.relname::text)`, doctorTables())
	if err != nil {
		return d, s.classify(err)
	}
	d.Tables, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableStat, error) {
		var t TableStat
		var vac *time.Time
		err := r.Scan(&t.Name, &t.Rows, &t.Bytes, &t.IndexBytes, &t.DeadRows, &vac)
		t.LastAutovacuum = pgNullTime(vac)
		return t, err
	})
	if err != nil {
		return d, s.classify(err)
	}
	rows, err = s.pool.Query(ctx, `SELECT i.relname, t.relname, pg_relation_size(i.oid)
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
		WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1)
		ORDER BY t.relname, i.relname`, doctorTables())
	if err != nil {
		return d, s.classify(err)
	}
	d.Indexes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (IndexStat, error) {
		var x IndexStat
		return x, r.Scan(&x.Name, &x.Table, &x.Bytes)
	})
	return d, s.classify(err)
}
