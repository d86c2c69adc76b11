package commands

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// MigrateOptions are the flags of `opsctl migrate`.
type MigrateOptions struct {
	F      *Factory
	DryRun bool
	Output string
}

func newMigrateCmd(f *Factory) *cobra.Command {
	opts := &MigrateOptions{F: f}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations (after a backup copy)",
		Example: `  opsctl migrate --dry-run     # print the SQL that would run
  opsctl migrate               # back up, then apply
  opsctl migrate status -o json`,
		Long: `Apply pending schema migrations in one transaction. An existing database
is first copied beside itself (NAME.vN-TIME.bak). --dry-run prints the SQL
that would run and changes nothing.

A database written by a newer opsctl is refused and left untouched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMigrate(cmd.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the SQL that would run; change nothing")
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the current and latest schema versions and what is pending",
		Example: `  opsctl migrate status
  opsctl --db /srv/opsctl/opsctl.db migrate status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMigrateStatus(cmd.Context(), opts) },
	}
	status.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	status.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	cmd.AddCommand(status)
	return cmd
}

// statusOnly reports where the database stands without changing it. A
// database file that does not exist yet is left uncreated: everything is
// pending.
func (o *MigrateOptions) statusOnly(ctx context.Context) (db.MigrationStatus, error) {
	s, err := o.F.peekDB(ctx)
	if err != nil {
		return db.MigrationStatus{}, err
	}
	if s == nil {
		ms, err := db.Migrations()
		if err != nil {
			return db.MigrationStatus{}, err
		}
		return db.MigrationStatus{Latest: len(ms), Pending: ms}, nil
	}
	defer s.Close()
	return s.MigrationStatus(ctx)
}

func runMigrate(ctx context.Context, o *MigrateOptions) error {
	if o.DryRun {
		st, err := o.statusOnly(ctx)
		if err != nil {
			return err
		}
		if len(st.Pending) == 0 {
			fmt.Fprintf(o.F.IO.Out, "schema is up to date (version %d)\n", st.Current)
		}
		for _, m := range st.Pending {
			fmt.Fprintf(o.F.IO.Out, "-- migration %d_%s\n%s\n", m.Version, m.Name, m.SQL)
		}
		return nil
	}
	s, err := o.F.openDB(ctx, db.Options{NoMigrate: true})
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	w := o.F.IO.Out
	if len(st.Pending) == 0 {
		fmt.Fprintf(w, "schema is up to date (version %d)\n", st.Current)
		return nil
	}
	if st.Current > 0 {
		path, err := s.Backup(ctx, st.Current)
		if err != nil {
			return err
		}
		if path != "" {
			fmt.Fprintf(o.F.IO.ErrOut, "backup written to %s\n", path)
		}
	}
	applied, err := s.Migrate(ctx, 0)
	if err != nil {
		return err
	}
	for _, m := range applied {
		fmt.Fprintf(w, "applied %d_%s\n", m.Version, m.Name)
	}
	if len(applied) == 0 {
		fmt.Fprintf(w, "schema is up to date (version %d)\n", st.Latest)
	}
	return nil
}

type migrateStatusJSON struct {
	Current int   `json:"current"`
	Latest  int   `json:"latest"`
	Pending []int `json:"pending"`
}

func runMigrateStatus(ctx context.Context, o *MigrateOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	st, err := o.statusOnly(ctx)
	if err != nil {
		return err
	}
	out := migrateStatusJSON{Current: st.Current, Latest: st.Latest, Pending: []int{}}
	for _, m := range st.Pending {
		out.Pending = append(out.Pending, m.Version)
	}
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, out)
	}
	fmt.Fprintf(o.F.IO.Out, "current: %d\nlatest:  %d\npending: %d\n", out.Current, out.Latest, len(out.Pending))
	for _, m := range st.Pending {
		fmt.Fprintf(o.F.IO.Out, "  %d_%s\n", m.Version, m.Name)
	}
	return nil
}
