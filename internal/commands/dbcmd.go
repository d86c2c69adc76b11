package commands

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

func newDBCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Copy a database to another (SQLite <-> PostgreSQL) and check its health",
		Example: `  opsctl db copy ~/.local/share/opsctl/opsctl.db postgres://opsctl@db.internal/opsctl
  opsctl db doctor
  opsctl --db postgres://opsctl@db.internal/opsctl db doctor -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newDBCopyCmd(f, nil), newDBDoctorCmd(f, nil))
	return cmd
}

// DBCopyOptions are the arguments and flags of `opsctl db copy`.
type DBCopyOptions struct {
	F        *Factory
	Src, Dst string
	Output   string
}

func newDBCopyCmd(f *Factory, runF func(context.Context, *DBCopyOptions) error) *cobra.Command {
	opts := &DBCopyOptions{F: f}
	cmd := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy every task, event, schedule and API token from one database to a new, empty one",
		Long: `Copy every task and event of SRC into DST, ids and all: to move a queue
from its SQLite file to PostgreSQL when runners on several hosts should
share it, or back. SRC and DST are what --db takes: a file path or a
postgres:// URL (--db itself is not used). What the tasks carry comes
along: approval requests (a waiting task can still be approved on DST)
and checkpoints, dependencies (a task waiting for one still waits),
undelivered notifications and the notify rules they are for; and so do
schedules, paused queues and API tokens. The runners table is not copied:
runners register again when they start.

SRC must exist (exit 6) and be at this opsctl's schema version (exit 4:
run 'opsctl --db SRC migrate' first); it is read in one snapshot and never
written. DST is created and migrated when needed and must hold no tasks:
a DST with tasks is refused (exit 1) and left as it was. Stop the runners
on SRC first: a task still running is copied as running, and is rescued
on DST once its lease expires.

The copy is one transaction on DST. Rows are streamed in id order, 10,000
at a time (COPY on PostgreSQL, multi-row INSERTs on SQLite), while the
next chunk is read: the tasks first, then the rows that refer to them.
Before the commit, DST's counts of each table are checked against SRC's;
a mismatch, an error or Ctrl-C rolls it all back, leaving DST without a
task. The API tokens of 'opsctl serve' are copied too (their hashes: the
tokens keep working); a DST that holds tokens, schedules or paused queues
is refused like one that holds tasks. Notify rules that runners on DST
registered already are kept, merged with SRC's. DST's id sequences are
moved past every id SRC handed out (also ids of tasks pruned since), so a
task submitted to DST later never gets an id that was already shown.
Other processes that use DST wait until the copy ends: it holds SQLite's
write lock, or on PostgreSQL a lock on the tables it writes. PostgreSQL
text cannot hold NUL bytes or invalid UTF-8: those are dropped or
replaced, as opsctl's own writes to PostgreSQL do.

Prints one line with the counts and the time on stdout (the tables other
than tasks and events only when they had rows; -o json: an object with
every count, seconds, source and target, passwords redacted); a progress
line on stderr when it is a terminal.`,
		Example: `  opsctl db copy ~/.local/share/opsctl/opsctl.db 'postgres://opsctl@db.internal/opsctl'
  opsctl db copy 'postgres://opsctl@db.internal/opsctl' /backup/opsctl.db -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Src, opts.Dst = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDBCopy(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatText, "output format: text or json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatText, formatJSON))
	return cmd
}

// formatText is the one-line output of commands that print no table.
const formatText = "text"

// dbCopyJSON is `db copy -o json`. Field names are stable.
type dbCopyJSON struct {
	Tasks         int64   `json:"tasks"`
	Events        int64   `json:"events"`
	Approvals     int64   `json:"approvals"`
	Checkpoints   int64   `json:"checkpoints"`
	Dependencies  int64   `json:"dependencies"`
	Notifications int64   `json:"notifications"`
	Tokens        int64   `json:"tokens"`
	Schedules     int64   `json:"schedules"`
	Queues        int64   `json:"queues"`
	NotifyRules   int64   `json:"notify_rules"`
	Seconds       float64 `json:"seconds"`
	Source        string  `json:"source"`
	Target        string  `json:"target"`
}

// copySummary is the counts of `db copy`'s line: tasks and events, then
// the other tables that had rows, in parentheses.
func copySummary(c db.CopyCounts) string {
	var more []string
	for _, p := range []struct {
		n         int64
		one, many string
	}{{c.Approvals, "approval request", "approval requests"}, {c.Checkpoints, "checkpoint", "checkpoints"},
		{c.Dependencies, "dependency", "dependencies"}, {c.Notifications, "undelivered notification", "undelivered notifications"},
		{c.NotifyRules, "notify rule", "notify rules"}, {c.Schedules, "schedule", "schedules"},
		{c.Queues, "queue state", "queue states"}, {c.Tokens, "API token", "API tokens"}} {
		switch {
		case p.n == 1:
			more = append(more, "1 "+p.one)
		case p.n > 1:
			more = append(more, fmt.Sprintf("%d %s", p.n, p.many))
		}
	}
	s := fmt.Sprintf("%d tasks and %d events", c.Tasks, c.Events)
	if len(more) > 0 {
		s += " (" + strings.Join(more, ", ") + ")"
	}
	return s
}

func runDBCopy(ctx context.Context, o *DBCopyOptions) error {
	if err := checkFormat(o.Output, formatText, formatJSON); err != nil {
		return err
	}
	// Both values are checked before anything is opened: a bad DST must not
	// cost a created file, nor a bad SRC a migrated DST.
	src, err := copyTarget("SRC", o.Src)
	if err != nil {
		return err
	}
	dst, err := copyTarget("DST", o.Dst)
	if err != nil {
		return err
	}
	if sameDatabase(src, dst) {
		return usageErrorf("SRC and DST are the same database (%s)", dst.Location)
	}
	if src.Dialect == db.SQLiteDialect {
		if _, err := os.Stat(src.Path); errors.Is(err, os.ErrNotExist) {
			return &db.UnavailableError{Path: src.Path, Err: errors.New("no such file (SRC of db copy)")}
		}
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	// SRC first, and only if it exists: a mistyped SRC creates neither it
	// nor DST. NoMigrate: nothing is written to SRC, and one at an older
	// schema is refused (exit 4) rather than upgraded behind the user's back.
	from, err := db.Open(ctx, db.Options{Path: o.Src, MustExist: true, NoMigrate: true})
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := db.Open(ctx, db.Options{Path: o.Dst, AutoMigrate: c.AutoMigrate})
	if err != nil {
		return err
	}
	defer to.Close()
	fromC, ok1 := from.(db.Copier)
	toC, ok2 := to.(db.Copier)
	if !ok1 || !ok2 {
		return errors.New("db copy: this backend cannot be copied")
	}
	var prog *progress
	st, err := db.Copy(ctx, fromC, toC, db.CopyOptions{Progress: func(done, total int64) {
		if prog == nil {
			prog = newProgress(o.F.IO, int(total))
		}
		prog.Set(int(done))
	}})
	if prog != nil {
		prog.Done()
	}
	if err != nil {
		return err
	}
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, dbCopyJSON{Tasks: st.Tasks, Events: st.Events, Approvals: st.Approvals,
			Checkpoints: st.Checkpoints, Dependencies: st.Dependencies, Notifications: st.Notifications,
			Tokens: st.Tokens, Schedules: st.Schedules, Queues: st.Queues, NotifyRules: st.NotifyRules,
			Seconds: math.Round(st.Elapsed.Seconds()*1000) / 1000, Source: from.Location(), Target: to.Location()})
	}
	_, err = fmt.Fprintf(o.F.IO.Out, "copied %s from %s to %s in %.1fs\n",
		copySummary(st.CopyCounts), from.Location(), to.Location(), st.Elapsed.Seconds())
	return err
}

// copyTarget parses SRC or DST as --db values are parsed; a bad one is a
// usage error that names the argument.
func copyTarget(arg, v string) (db.Target, error) {
	t, err := db.ParseTarget(v)
	var te *db.TargetError
	if errors.As(err, &te) {
		return t, usageErrorf("%s %s: %v", arg, te.Value, te.Err)
	}
	return t, err
}

// sameDatabase reports whether two targets name one database: the same
// file (when both exist), or the same URL.
func sameDatabase(a, b db.Target) bool {
	if a.Dialect != b.Dialect {
		return false
	}
	if a.Dialect == db.PostgresDialect {
		return a.Location == b.Location
	}
	fa, err1 := os.Stat(a.Path)
	fb, err2 := os.Stat(b.Path)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// DBDoctorOptions are the flags of `opsctl db doctor`.
type DBDoctorOptions struct {
	F      *Factory
	Output string
}

func newDBDoctorCmd(f *Factory, runF func(context.Context, *DBDoctorOptions) error) *cobra.Command {
	opts := &DBDoctorOptions{F: f}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Report on the database's health: sizes, rows, vacuum, integrity",
		Long: `Report on the database --db names. Both backends: the schema version and
each table's rows and size. SQLite: the file's and the WAL's sizes, pages
and free pages, and an integrity check (it reads the whole file). PostgreSQL:
the server version, connections to this database, the oldest open
transaction (it holds vacuum back), the NOTIFY queue's use, each table's
index size, dead rows and last autovacuum, and each index's size; row
counts there are the planner's estimates.

It only reads: a database that does not exist is not created (exit 6),
and one that needs migrating is not migrated (exit 4).`,
		Example: `  opsctl db doctor
  opsctl db doctor -o json | jq '.tables[] | select(.name == "tasks") | .rows'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDBDoctor(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

func runDBDoctor(ctx context.Context, o *DBDoctorOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	// MustExist: a missing file is not created; NoMigrate: nothing is
	// written, not even the journal mode.
	s, err := o.F.openDB(ctx, db.Options{MustExist: true, NoMigrate: true})
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := s.Doctor(ctx)
	if err != nil {
		return err
	}
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, d)
	}
	return printDoctor(o.F.IO, d, o.F.Now())
}

// printDoctor prints aligned "key: value" lines, then the tables and, on
// PostgreSQL, the indexes. Piped, table rows start with their kind
// ("table", "index") and have no header, as status prints them.
func printDoctor(io *IOStreams, d db.Doctor, now time.Time) error {
	kv := [][2]string{{"database", d.Location}, {"backend", string(d.Dialect)},
		{"schema version", strconv.Itoa(d.SchemaVersion)}}
	pg := d.Dialect == db.PostgresDialect
	if pg {
		oldest := "none"
		if d.OldestTransaction > 0 {
			oldest = d.OldestTransaction.String()
		}
		kv = append(kv, [][2]string{{"server version", d.ServerVersion}, {"connections", strconv.Itoa(d.Connections)},
			{"oldest transaction", oldest}, {"notify queue", fmt.Sprintf("%.1f%% used", d.NotifyQueueUsage*100)}}...)
	} else {
		kv = append(kv, [][2]string{{"file", humanSize(d.FileBytes)}, {"wal", humanSize(d.WALBytes)},
			{"pages", fmt.Sprintf("%d of %s, %d free", d.Pages, humanSize(d.PageSize), d.FreePages)},
			{"integrity", d.Integrity}}...)
	}
	width := 0
	for _, p := range kv {
		width = max(width, len(p[0]))
	}
	var b strings.Builder
	for _, p := range kv {
		fmt.Fprintf(&b, "%-*s  %s\n", width+1, p[0]+":", p[1])
	}
	b.WriteString("\n")
	if _, err := io.Out.Write([]byte(b.String())); err != nil {
		return err
	}
	tty := io.OutTTY
	kind := func(k string, cells ...string) []string {
		if tty {
			return cells
		}
		return append([]string{k}, cells...)
	}
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	var tp *tablePrinter
	if pg {
		tp = newTablePrinter(io, "table", "approx rows", "size", "index size", "dead rows", "autovacuum")
		for _, t := range d.Tables {
			tp.Row(kind("table", t.Name, n(t.Rows), humanSize(t.Bytes), humanSize(t.IndexBytes), n(t.DeadRows),
				formatTime(t.LastAutovacuum, now, tty))...)
		}
	} else {
		tp = newTablePrinter(io, "table", "rows", "size")
		for _, t := range d.Tables {
			tp.Row(kind("table", t.Name, n(t.Rows), humanSize(t.Bytes))...)
		}
	}
	if err := tp.Render(); err != nil {
		return err
	}
	if len(d.Indexes) == 0 {
		return nil
	}
	if tty {
		fmt.Fprintln(io.Out)
	}
	tp = newTablePrinter(io, "index", "table", "size")
	for _, x := range d.Indexes {
		tp.Row(kind("index", x.Name, x.Table, humanSize(x.Bytes))...)
	}
	return tp.Render()
}

// humanSize writes a byte count in binary units: "512 B", "12.3 MiB".
func humanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1024 || u == "TiB" {
			return fmt.Sprintf("%.1f %s", v, u)
		}
	}
	return ""
}
